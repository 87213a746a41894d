"""Retrieval and answers on real XQuAD-ar paragraphs (a slice of ../shared/data/xquad, indexed
with the real embedder): the measured choices must hold on data the seed corpus does not cover."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.evaluation import QAItem, contains_gold, read_squad
from retrieval.ingest.build import build_index
from retrieval.pipeline import Pipeline
from retrieval.search.retriever import Retriever
from retrieval.search.signals.sentence import max_sentence_similarity
from retrieval.settings import Settings
from tests.conftest import XQUAD

# the first articles of XQuAD (Super Bowl 50, Warsaw, Normans...): ~1/8 of the file
PARAGRAPHS = 30

pytestmark = [pytest.mark.slow,  # builds real indexes over XQuAD slices
              pytest.mark.skipif(not XQUAD.is_file(), reason="../shared/data/xquad is not beside the repository")]


@pytest.fixture(scope="module")
def xquad(tmp_path_factory) -> tuple[Pipeline, list[QAItem]]:
    docs, qa, _ = read_squad(XQUAD)
    docs = docs[:PARAGRAPHS]
    # the questions of the kept paragraphs (read_squad lists them paragraph by paragraph)
    data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    per_paragraph = [len(p["qas"]) for article in data for p in article["paragraphs"]]
    qa = qa[: sum(per_paragraph[:PARAGRAPHS])]
    root = tmp_path_factory.mktemp("xquad")
    corpus = root / "corpus" / "xquad.jsonl"
    corpus.parent.mkdir()
    corpus.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    settings = Settings(_env_file=None, corpus_dir=corpus.parent, index_dir=root / "index")
    build_index(settings, progress=False)
    return Pipeline.load(settings), qa


def _at1(pipeline: Pipeline, qa: list[QAItem], mode: str = "hybrid", **weights: float) -> float:
    """Recall@1 of the pipeline's search, with some signals' ``weights`` changed (on a retriever of its own)."""
    shipped = pipeline.retriever
    retriever = Retriever(shipped.index, shipped.embedder, fusion=shipped.fusion, weights={**shipped.weights, **weights})
    hits = 0
    for item in qa:
        passages = retriever.search(item.question, k=1, mode=mode)
        hits += bool(passages) and contains_gold(passages[0].text, item)
    return hits / len(qa)


def test_chunk_sentences_are_the_sentences_inside_each_chunk(xquad) -> None:
    index = xquad[0].index
    for i, (lo, hi) in enumerate(index.chunk_sentences):
        doc, start, end = index.chunks[i]
        inside = np.nonzero((index.sentences[:, 0] == doc) & (index.sentences[:, 1] >= start)
                            & (index.sentences[:, 2] <= end))[0]
        assert list(range(lo, hi)) == inside.tolist()
        assert hi > lo


def test_max_sentence_similarity_is_the_best_sentence(xquad) -> None:
    pipeline = xquad[0]
    index = pipeline.index
    query = pipeline.embedder.embed_query("كم عدد الاعتراضات التي سجلها دفاع البانثرز؟")
    ids = np.arange(len(index))
    got = max_sentence_similarity(index, ids, query)
    for i, (lo, hi) in enumerate(index.chunk_sentences):
        assert got[i] == pytest.approx(float((index.sentence_vectors[lo:hi] @ query).max()), abs=1e-5)


def test_the_sentence_signal_lifts_hybrid_retrieval(xquad) -> None:
    pipeline, qa = xquad
    with_sentences = _at1(pipeline, qa)
    without = _at1(pipeline, qa, sentence=0.0)
    bm25, dense = _at1(pipeline, qa, mode="bm25"), _at1(pipeline, qa, mode="dense")
    print(f"recall@1 on {len(qa)} questions: hybrid {with_sentences:.3f}, without sentences {without:.3f}, "
          f"bm25 {bm25:.3f}, dense {dense:.3f}")
    assert pipeline.retriever.weights["sentence"] > 0
    assert with_sentences >= without >= max(bm25, dense) - 0.02
    assert with_sentences > max(bm25, dense)
    assert with_sentences >= 0.85


def test_answers_quote_the_gold_answer(xquad) -> None:
    pipeline, qa = xquad
    shown = [pipeline.answer(item.question) for item in qa]
    recall = sum(contains_gold(a.text, item) for a, item in zip(shown, qa)) / len(qa)
    assert recall >= 0.85
    assert np.mean([len(a.text) for a in shown]) < 600
    for answer in shown:
        for excerpt in answer.excerpts:
            assert excerpt.text.strip()
