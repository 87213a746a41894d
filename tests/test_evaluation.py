"""Evaluation metrics on hand-made cases with known values, the SQuAD reader, and evaluate.py
end to end as a subprocess on the seed corpus."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEED_CORPUS

from retrieval.evaluation import (
    EVAL_CACHE,
    RECALL_KS,
    Evaluator,
    QAItem,
    Report,
    cached_index_dir,
    contains_gold,
    norm_answer,
    read_squad,
    squad_corpus,
)
from retrieval.models import Answer, Excerpt, Passage
from retrieval.settings import Settings


def gold(*answers: str, every: bool = False) -> QAItem:
    """A gold item: any of ``answers`` must appear, or every one of them."""
    return QAItem("", list(answers), every)


# ---------------------------------------------------------------- contains_gold


def test_gold_present_and_absent() -> None:
    text = "التقى رئيس المخابرات المصرية رئيس الوزراء الإسرائيلي بنيامين نتنياهو في القدس."
    assert contains_gold(text, gold("نتنياهو"))
    assert not contains_gold(text, gold("ويتكوف"))
    assert contains_gold(text, gold("ويتكوف", "نتنياهو"))  # alternatives: any one suffices
    assert not contains_gold(text, gold())  # no gold answer: never a hit
    assert not contains_gold(text, gold("", "  "))
    assert not contains_gold("", gold("نتنياهو"))


def test_all_means_every_answer_must_appear() -> None:
    both = "التقى رشاد نتنياهو في القدس، واستقبل ويتكوف في القاهرة."
    one = "التقى رشاد نتنياهو في القدس."
    assert contains_gold(both, gold("نتنياهو", "ويتكوف", every=True))
    assert not contains_gold(one, gold("نتنياهو", "ويتكوف", every=True))
    assert contains_gold(one, gold("نتنياهو", "ويتكوف", every=False))
    # an empty alternative does not count against "all"
    assert contains_gold(one, gold("نتنياهو", "", every=True))


@pytest.mark.parametrize(("written", "gold_span"), [
    ("إسرائيل", "اسرائيل"),  # hamza below
    ("الأمم المتحدة", "الامم المتحده"),  # hamza above, taa marbuta
    ("آلاف", "الاف"),  # madda
    ("القاهرة", "القاهره"),  # taa marbuta
    ("مصطفى", "مصطفي"),  # alef maqsura
    ("مُحَمَّدٌ", "محمد"),  # tashkeel
    ("القـــدس", "القدس"),  # tatweel
    ("شرم\n  الشيخ", "شرم الشيخ"),  # whitespace collapsed
    ("١٠١", "101"),  # Arabic-Indic digits
])
def test_normalisation_matches_spelling_variants_both_ways(written: str, gold_span: str) -> None:
    assert norm_answer(written) == norm_answer(gold_span)
    assert contains_gold(f"قال المصدر إن {written} اليوم", gold(gold_span))
    assert contains_gold(f"قال المصدر إن {gold_span} اليوم", gold(written))


def test_norm_answer_is_the_analyzer_normalisation() -> None:
    assert norm_answer("  أَحْمَد   وإيمان\tوآمنة  ") == "احمد وايمان وامنه"


# ---------------------------------------------------------------- Report


def test_report_to_dict_on_known_counts() -> None:
    report = Report("bm25", 3)
    # four answerable questions: gold first at passage rank 1, 2, 7 and never
    report.n_questions = 4
    report.answer_hits = 3
    for first in (1, 2, 7, None):
        for k in RECALL_KS:
            report.passage_hits[k] += first is not None and first <= k
        report.reciprocal_ranks.append(1 / first if first else 0.0)
    report.answer_chars = [100, 200, 300, 401]
    report.latencies_ms = [10.0, 20.0, 30.0, 40.0]
    report.unanswerable, report.abstained_correctly, report.answerable_abstained = 3, 2, 1
    # of the three answered: two sure (both hold the gold), one not sure (holds it); one unanswerable flagged
    report.answered_sure, report.sure_hits, report.answered_unsure, report.unsure_hits = 2, 2, 1, 1
    report.unanswerable_flagged = 1
    report.failures = [{"question": "q", "shown": ""}]
    data = report.to_dict()
    assert data == {
        "n_questions": 4,
        "mode": "bm25",
        "k": 3,
        "answer_recall": 0.75,
        "passage_recall": {"1": 0.25, "3": 0.5, "5": 0.5, "10": 0.75},
        "mrr": round((1 + 1 / 2 + 1 / 7) / 4, 4),
        "mean_answer_chars": 250.2,
        "abstention": {"unanswerable": 3, "abstained_correctly": 2, "answerable_abstained": 1},
        "unsure": {"answered_sure": 2, "answered_unsure": 1, "answerable_abstained": 1, "sure_recall": 1.0,
                   "unsure_recall": 1.0, "unanswerable": 3, "unanswerable_flagged": 1, "unanswerable_abstained_or_flagged": 3},
        "conversation_recall": None,  # no conversation turns asked
        "latency_ms": {"p50": 25.0, "p95": 38.5},
        "failures": [{"question": "q", "shown": ""}],
    }
    report.conv_turns, report.conv_hits = 4, 3
    assert report.to_dict()["conversation_recall"] == 0.75
    json.dumps(data)  # serialisable as is


def test_an_empty_report_divides_by_nothing() -> None:
    data = Report("hybrid", 5).to_dict()
    assert data["n_questions"] == 0 and data["answer_recall"] == 0.0 and data["mrr"] == 0.0
    assert data["passage_recall"] == {"1": 0.0, "3": 0.0, "5": 0.0, "10": 0.0}
    assert data["latency_ms"] == {"p50": 0.0, "p95": 0.0}
    assert data["conversation_recall"] is None
    assert data["unsure"]["sure_recall"] is None and data["unsure"]["unsure_recall"] is None  # no answer in either group


class _StubRetriever:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def search(self, question: str, k: int, mode: str, **_: object) -> list[Passage]:
        return [Passage(chunk_index=i, doc_id=f"d{i}", title="t", source="s", start=0, end=len(t), text=t, score=1.0,
                        rank=i + 1, citation=f"[{i + 1}]") for i, t in enumerate(self.texts[:k])]


class _StubPipeline:
    """Answers from a table; every answer carries the same ranked passages (its search's)."""

    def __init__(self, answers: dict[str, str], passages: list[str], unsure: tuple[str, ...] = ()) -> None:
        self.answers = answers
        self.unsure = unsure  # questions answered under the "may not answer" notice
        self.retriever = _StubRetriever(passages)

    def answer(self, question: str, conversation=None, *, k=None, mode=None, within=None) -> Answer:  # as service.ask calls it
        text = self.answers.get(question)
        ranked = self.retriever.search(question, k=10, mode=mode or "hybrid")
        if text is None:
            return Answer(question=question, resolved_question=question, abstained=True, message_id="answer.none", ranked=ranked)
        excerpt = Excerpt(text=text, doc_id="d", start=0, end=len(text), citations=[1])
        return Answer(question=question, resolved_question=question, excerpts=[excerpt], unsure=question in self.unsure,
                      ranked=ranked)


def test_evaluator_counts_hits_ranks_and_abstentions() -> None:
    passages = ["لا شيء هنا", "ولا هنا", "وصل فانس يوم الثلاثاء", "", "", "", "", "", "", "نتنياهو في القدس"]
    pipeline = _StubPipeline({"متى؟": "وصل فانس يوم الثلاثاء", "من؟": "التقى أحدا ما", "أين؟": "في مكان ما"}, passages)
    evaluator = Evaluator(pipeline, "hybrid", 5)
    evaluator.qa([QAItem("متى؟", ["الثلاثاء"]), QAItem("من؟", ["نتنياهو"]), QAItem("أين؟", ["شرم الشيخ"]),
                  QAItem("لماذا؟", ["السبب"])])
    evaluator.unanswerable([QAItem("من فاز؟", []), QAItem("متى؟", [])])
    data = evaluator.report.to_dict()
    assert data["n_questions"] == 4 and data["answer_recall"] == 0.25
    # gold ranks: 3, 10, never, never
    assert data["passage_recall"] == {"1": 0.0, "3": 0.25, "5": 0.25, "10": 0.5}
    assert data["mrr"] == round((1 / 3 + 1 / 10) / 4, 4)
    assert data["abstention"] == {"unanswerable": 2, "abstained_correctly": 1, "answerable_abstained": 1}
    missed = [f["question"] for f in data["failures"]]
    assert missed == ["من؟", "أين؟", "لماذا؟", "متى؟"]  # the last one: answered an unanswerable question
    assert data["failures"][0]["first_gold_rank"] == 10
    assert data["failures"][-1]["unanswerable"] is True
    assert len(evaluator.report.latencies_ms) == 6
    # nothing was answered under the notice: every answer counts as sure
    assert data["unsure"] == {"answered_sure": 3, "answered_unsure": 0, "answerable_abstained": 1, "sure_recall": round(1 / 3, 4),
                              "unsure_recall": None, "unanswerable": 2, "unanswerable_flagged": 0,
                              "unanswerable_abstained_or_flagged": 1}


def test_evaluator_counts_sure_and_unsure_answers_apart() -> None:
    pipeline = _StubPipeline({"متى؟": "وصل فانس يوم الثلاثاء", "من؟": "التقى نتنياهو", "أين؟": "في مكان ما",
                              "كم؟": "عدد ما"}, ["لا شيء"], unsure=("من؟", "أين؟", "كم؟"))
    evaluator = Evaluator(pipeline, "hybrid", 5)
    evaluator.qa([QAItem("متى؟", ["الثلاثاء"]), QAItem("من؟", ["نتنياهو"]), QAItem("أين؟", ["شرم الشيخ"]),
                  QAItem("لماذا؟", ["السبب"])])
    evaluator.unanswerable([QAItem("كم؟", []), QAItem("ماذا؟", [])])
    data = evaluator.report.to_dict()
    # sure: متى (hit); not sure: من (hit), أين (miss); abstained: لماذا. Unanswerable: كم flagged, ماذا abstained
    assert data["unsure"] == {"answered_sure": 1, "answered_unsure": 2, "answerable_abstained": 1, "sure_recall": 1.0,
                              "unsure_recall": 0.5, "unanswerable": 2, "unanswerable_flagged": 1,
                              "unanswerable_abstained_or_flagged": 2}
    assert data["answer_recall"] == 0.5 and data["abstention"]["abstained_correctly"] == 1  # the old keys as before
    flagged = [f for f in data["failures"] if f.get("unanswerable")]
    assert [f["question"] for f in flagged] == ["كم؟"] and flagged[0]["unsure"] is True


# ---------------------------------------------------------------- SQuAD


SQUAD = {"version": "1.1", "data": [
    {"title": "Cairo_Tower", "paragraphs": [
        {"context": "برج القاهرة برج في الزمالك.", "qas": [
            {"id": "q1", "question": "أين يقع برج القاهرة؟",
             "answers": [{"text": "الزمالك", "answer_start": 17}, {"text": "الزمالك", "answer_start": 17}]}]},
        {"context": "افتتح البرج عام 1961.", "qas": [
            {"id": "q2", "question": "متى افتتح البرج؟",
             "answers": [{"text": "1961", "answer_start": 16}, {"text": "عام 1961", "answer_start": 12}]}]}]},
    {"title": "Nile", "paragraphs": [
        {"context": "النيل أطول أنهار أفريقيا.", "qas": [
            {"id": "q3", "question": "ما أطول أنهار أفريقيا؟", "answers": [{"text": "النيل", "answer_start": 0}]}]}]},
    {"title": "Held_Out", "paragraphs": [
        {"context": "فقرة محجوبة عن الفهرس.", "qas": [
            {"id": "q4", "question": "ما الفقرة المحجوبة؟", "answers": [{"text": "محجوبة", "answer_start": 5}]},
            {"id": "q5", "question": "عن ماذا حجبت؟", "answers": [{"text": "الفهرس", "answer_start": 15}]}]}]},
]}


@pytest.fixture()
def squad_file(tmp_path: Path) -> Path:
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD, ensure_ascii=False), encoding="utf-8")
    return path


def test_read_squad_keeps_every_paragraph_without_holdout(squad_file: Path) -> None:
    docs, qa, held = read_squad(squad_file)
    assert [d["id"] for d in docs] == ["000-00", "000-01", "001-00", "002-00"]
    assert docs[0] == {"id": "000-00", "title": "Cairo Tower", "text": "برج القاهرة برج في الزمالك."}
    assert [item.question for item in qa] == ["أين يقع برج القاهرة؟", "متى افتتح البرج؟", "ما أطول أنهار أفريقيا؟",
                                               "ما الفقرة المحجوبة؟", "عن ماذا حجبت؟"]
    assert qa[0].answers == ["الزمالك"]  # duplicates dropped
    assert qa[1].answers == ["1961", "عام 1961"] and not qa[1].all  # alternatives
    assert held == []


def test_read_squad_holdout_articles_become_unanswerable(squad_file: Path) -> None:
    docs, qa, held = read_squad(squad_file, holdout_articles=1)
    assert [d["id"] for d in docs] == ["000-00", "000-01", "001-00"]
    assert all("محجوبة" not in d["text"] for d in docs)
    assert [item.question for item in qa] == ["أين يقع برج القاهرة؟", "متى افتتح البرج؟", "ما أطول أنهار أفريقيا؟"]
    assert [item.question for item in held] == ["ما الفقرة المحجوبة؟", "عن ماذا حجبت؟"]
    docs2, qa2, held2 = read_squad(squad_file, holdout_articles=2)
    assert [d["id"] for d in docs2] == ["000-00", "000-01"]
    assert len(qa2) == 2 and len(held2) == 3


# ---------------------------------------------------------------- evaluate.py end to end


def _clean_env() -> dict[str, str]:
    """The environment without any setting the program reads."""
    names = Settings.env_names()
    env = {key: value for key, value in os.environ.items() if key.upper() not in names}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONIOENCODING"] = "utf-8"
    env["MPLBACKEND"] = "Agg"
    return env


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.slow
def test_evaluate_py_end_to_end(tmp_path: Path, seed_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = Settings.env_names()
    for key in [key for key in os.environ if key.upper() in names]:
        monkeypatch.delenv(key)  # the settings the subprocess sees (_clean_env)

    qa = _jsonl(tmp_path / "qa.jsonl", [
        {"question": "من التقى رشاد؟", "answers": ["نتنياهو", "ويتكوف"], "all": True},
        {"question": "كم عدد المحتجزين الذين ما زالوا لدى حماس في غزة وفق التقديرات الإسرائيلية؟", "answers": ["101"], "all": False},
        {"question": "في أي منتجع استضافت مصر القائمين على اتفاق وقف إطلاق النار بين إسرائيل وحماس؟",
         "answers": ["شرم الشيخ"], "all": False},
        # a feedback export line nobody has reviewed yet: no reference answer, skipped with a note
        {"question": "من التقى رشاد في القاهرة؟", "answers": [], "vote": "not useful", "review": True},
    ])
    # the third is near-topic: answered under the "not sure" notice (tests/test_unsure.py), not abstained
    unanswerable = _jsonl(tmp_path / "unanswerable.jsonl", [{"question": "من فاز بكأس العالم 2022؟"},
                                                            {"question": "ما هي عاصمة اليابان؟"},
                                                            {"question": "كم عمر اللواء حسن رشاد؟"}])
    conversations = _jsonl(tmp_path / "conversations.jsonl", [{"turns": [
        {"question": "من التقى رشاد في القدس؟", "answers": ["نتنياهو"], "all": False},
        {"question": "ومتى كان ذلك؟", "answers": ["الثلاثاء"], "all": False}]}])
    # evaluate.py caches its index under data/eval-cache/ of its working folder: seed it with the
    # session's index under the key it will ask for, so the run embeds nothing (it would rebuild otherwise)
    settings = Settings(_env_file=None)
    cached = tmp_path / cached_index_dir(SEED_CORPUS, settings)
    shutil.copytree(seed_index, cached)
    out, plot = tmp_path / "out.json", tmp_path / "recall.png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), "--corpus", str(SEED_CORPUS), "--qa", str(qa),
         "--unanswerable", str(unanswerable), "--conversations", str(conversations), "--json", str(out), "--plot", str(plot)],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, encoding="utf-8", timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "answer recall" in result.stdout and "conversation recall" in result.stdout
    assert "answered sure / not sure" in result.stdout and "3/3 (1 flagged not sure)" in result.stdout

    metrics = json.loads(out.read_text(encoding="utf-8"))
    assert set(metrics) == {"n_questions", "mode", "k", "answer_recall", "passage_recall", "mrr", "mean_answer_chars",
                            "abstention", "unsure", "conversation_recall", "latency_ms", "failures", "recall_curves"}
    assert metrics["n_questions"] == 3
    assert "1 question(s)" in result.stderr and "no reference answer" in result.stderr
    assert (metrics["mode"], metrics["k"]) == (settings.search.mode, settings.search.top_k)
    assert metrics["answer_recall"] == 1.0
    recall = metrics["passage_recall"]
    assert set(recall) == {"1", "3", "5", "10"}
    assert 0 < recall["1"] <= recall["3"] <= recall["5"] <= recall["10"] == 1.0
    assert recall["1"] <= metrics["mrr"] <= 1.0
    assert 0 < metrics["mean_answer_chars"] <= settings.answer.answer_max_chars
    assert metrics["abstention"] == {"unanswerable": 3, "abstained_correctly": 2, "answerable_abstained": 0}
    assert metrics["unsure"] == {"answered_sure": 3, "answered_unsure": 0, "answerable_abstained": 0, "sure_recall": 1.0,
                                 "unsure_recall": None, "unanswerable": 3, "unanswerable_flagged": 1,
                                 "unanswerable_abstained_or_flagged": 3}
    assert metrics["conversation_recall"] == 1.0
    assert set(metrics["latency_ms"]) == {"p50", "p95"}
    assert 0 < metrics["latency_ms"]["p50"] <= metrics["latency_ms"]["p95"]
    flagged = metrics["failures"]  # an unanswerable question answered, even under the notice, is listed
    assert [(f["question"], f.get("unanswerable"), f.get("unsure")) for f in flagged] == [("كم عمر اللواء حسن رشاد؟", True, True)]
    curves = metrics["recall_curves"]
    assert set(curves) == {"bm25", "dense", "hybrid"}
    for values in curves.values():
        assert len(values) == 10 and values == sorted(values) and all(0 <= v <= 1 for v in values)

    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.stat().st_size > 1000
    # the cached index was used as is: nothing else was built next to it
    assert sorted(p.name for p in (tmp_path / EVAL_CACHE).glob("index-*")) == [cached.name]


@pytest.mark.slow
def test_evaluate_py_needs_a_corpus_with_qa(tmp_path: Path) -> None:
    qa = _jsonl(tmp_path / "qa.jsonl", [{"question": "س؟", "answers": ["ج"]}])
    result = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--qa", str(qa)], cwd=tmp_path, env=_clean_env(),
                            capture_output=True, text=True, encoding="utf-8", timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --qa needs --corpus DIR"


# ---------------------------------------------------------------- the cached evaluation indexes


def test_squad_corpus_is_the_paragraphs_written_once(squad_file: Path, tmp_path: Path) -> None:
    docs, _, _ = read_squad(squad_file)
    cache = tmp_path / "cache"
    path = squad_corpus(squad_file, docs, 0, cache=cache)
    assert path.parent.parent == cache
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == docs
    written = path.stat().st_mtime_ns
    os.utime(path, ns=(written - 10**9, written - 10**9))  # a rewrite would show as a new time
    assert squad_corpus(squad_file, docs, 0, cache=cache) == path
    assert path.stat().st_mtime_ns == written - 10**9
    # another holdout is another file; changed paragraphs are written again
    held_docs, _, _ = read_squad(squad_file, holdout_articles=1)
    other = squad_corpus(squad_file, held_docs, 1, cache=cache)
    assert other != path and len(other.read_text(encoding="utf-8").splitlines()) == len(held_docs) < len(docs)
    assert squad_corpus(squad_file, held_docs, 0, cache=cache) == path
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(held_docs)


def test_cached_index_dir_follows_the_corpus_and_every_setting_the_files_depend_on(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    base = Settings(_env_file=None)
    here = cached_index_dir(SEED_CORPUS, base, cache=tmp_path)
    assert here.parent == tmp_path and here.name.startswith("index-")
    monkeypatch.chdir(SEED_CORPUS.parent)
    assert cached_index_dir(Path(SEED_CORPUS.name), base, cache=tmp_path) == here  # the same folder, named relatively
    others = [cached_index_dir(tmp_path, base, cache=tmp_path)]
    for change in ({"chunk_size": base.index.chunk_size + 100}, {"chunk_overlap": base.index.chunk_overlap + 1},
                   {"faiss_factory": "HNSW32"}, {"bm25_backend": "rank-bm25"}, {"sentence_vectors": not base.index.sentence_vectors},
                   {"model": "some/other-model"}):
        others.append(cached_index_dir(SEED_CORPUS, base.with_(**change), cache=tmp_path))
    assert len({here, *others}) == len(others) + 1
    # settings the index files do not depend on share the index
    assert cached_index_dir(SEED_CORPUS, base.with_(top_k=base.search.top_k + 1), cache=tmp_path) == here
