"""Time in questions on a real index: nine ANT articles whose headlines all name North Korea's
leader (April, May and June 2018; tests/data/ant_dated.jsonl holds each article's real opening as
its text), embedded with the real encoder. The month in the question changes the top article,
"آخر" brings the newest, a conversation's period keeps the others out, and a question that names
no time ranks exactly as before on the seed index."""

from __future__ import annotations

import json
from datetime import date

import pytest
from conftest import EVAL, ROOT, seed_settings

from retrieval.index import Index
from retrieval.ingest.build import build_index
from retrieval.pipeline import Pipeline
from retrieval.understand.timeframe import TimeFrame, parse_question

pytestmark = pytest.mark.slow  # embeds the nine articles with the real encoder

CORPUS = ROOT / "tests" / "data" / "ant_dated.jsonl"
TOPIC = "ماذا فعل زعيم كوريا الشمالية"
DATES = {json.loads(line)["id"]: json.loads(line)["date"] for line in CORPUS.read_text(encoding="utf-8").splitlines()}


@pytest.fixture(scope="module")
def dated(seed_pipeline: Pipeline, tmp_path_factory) -> Pipeline:
    corpus = tmp_path_factory.mktemp("dated") / "corpus"
    corpus.mkdir()
    (corpus / CORPUS.name).write_bytes(CORPUS.read_bytes())
    settings = seed_settings(corpus.parent / "index")
    # the seed pipeline's embedder, so the model is not loaded twice
    build_index(settings, corpus=corpus, embedder=seed_pipeline.embedder, progress=False)
    return Pipeline(settings, Index.load(settings.index.index_dir, settings), seed_pipeline.embedder)


def top_dates(pipeline: Pipeline, question: str, **options) -> list[str]:
    answer = pipeline.answer(question, k=9, **options)
    return [DATES[p.doc_id] for p in answer.passages]


def test_the_month_in_the_question_changes_the_top_article(dated: Pipeline) -> None:
    assert dated.newest_date() == date(2018, 6, 28)
    plain = sorted(top_dates(dated, f"{TOPIC}؟"))
    missed_without = 0
    for month, written in (("2018-04", "في أبريل 2018"), ("2018-05", "في أيار ٢٠١٨"), ("2018-06", "خلال شهر حزيران")):
        question = f"{TOPIC} {written}؟"
        found = top_dates(dated, question)
        in_month = sum(d.startswith(month) for d in found)
        # the month's articles first, then the others (a boost, not a filter: nothing is lost)
        assert in_month >= 1 and all(d.startswith(month) for d in found[:in_month]), (question, found)
        assert sorted(found) == plain
        missed_without += not top_dates(dated, question, dates=False)[0].startswith(month)
    assert missed_without >= 1  # by its words alone, some month's question starts with another month


def test_latest_moves_newer_articles_up(dated: Pipeline) -> None:
    newest = "2018-06-28"
    questions = ("ما آخر أخبار زعيم كوريا الشمالية؟", f"latest: {TOPIC}", f"{TOPIC} مؤخراً؟")
    rises = 0
    for question in questions:
        with_dates, without = top_dates(dated, question), top_dates(dated, question, dates=False)
        assert with_dates.index(newest) <= without.index(newest), question
        rises += with_dates.index(newest) < without.index(newest)
    assert rises >= 1
    # the default reorders only the candidates close to the best (signals/recency.py WINDOW); over every
    # candidate, the newest article, far below by its words, comes second
    recency = dated.retriever.signals["recency"]
    saved = recency.window
    recency.window = 1.0
    try:
        for question in questions:
            assert newest in top_dates(dated, question)[:2], question
    finally:
        recency.window = saved


def test_a_conversation_period_keeps_only_its_articles(dated: Pipeline) -> None:
    may = TimeFrame(date(2018, 5, 1), date(2018, 5, 31))
    found = top_dates(dated, f"{TOPIC}؟", within=may)
    assert found and all(d.startswith("2018-05") for d in found)
    # the question's own month inside the conversation's period, and a month outside it
    assert all(d.startswith("2018-05") for d in top_dates(dated, f"{TOPIC} في أبريل 2018؟", within=may))
    since_june = TimeFrame(date(2018, 6, 1), None)
    assert set(top_dates(dated, f"{TOPIC}؟", within=since_june)) == {"2018-06-28"}
    nothing = dated.answer(f"{TOPIC}؟", within=TimeFrame(date(2019, 1, 1), None))
    assert nothing.passages == [] and nothing.abstained


def test_questions_without_a_time_rank_exactly_as_before(seed_pipeline: Pipeline) -> None:
    questions = [json.loads(line)["question"] for name in ("seed_qa.jsonl", "unanswerable.jsonl")
                 for line in (EVAL / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    untimed = [q for q in questions if not parse_question(q)]
    assert len(untimed) >= len(questions) - 1
    for question in untimed:
        with_dates = seed_pipeline.answer(question)
        without = seed_pipeline.answer(question, dates=False)
        assert [(p.chunk_index, p.score) for p in with_dates.passages] == \
            [(p.chunk_index, p.score) for p in without.passages]
        assert with_dates.text == without.text


def test_a_time_the_index_cannot_use_stays_among_the_words(seed_pipeline: Pipeline, dated: Pipeline) -> None:
    """No article of the period (or no dates at all, as in XQuAD): the question is searched as it was asked."""
    for pipeline, question in ((seed_pipeline, "Who won the Nobel Peace Prize in 2023?"),
                               (dated, f"{TOPIC} في عام 2016؟")):
        with_dates, without = pipeline.answer(question), pipeline.answer(question, dates=False)
        assert [(p.chunk_index, p.score) for p in with_dates.passages] == \
            [(p.chunk_index, p.score) for p in without.passages]
        assert with_dates.abstained == without.abstained
