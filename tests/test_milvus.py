"""The milvus search backend against the real Milvus core (milvus-lite 2.5: the C++ engine in the
wheel): BM25 sparse vectors equal bm25s, both backends give the same passages and answers, and a
dead server, a wrong URI or a collection of another embedder each fail in one clear line while
nothing half-written is served. The contract itself is tests/test_backend_contract.py."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EVAL, SEED_CORPUS, XQUAD, FakeEmbedder, clean_env, seed_settings

from retrieval.backends import milvus_store
from retrieval.backends.bm25 import Bm25sIndex
from retrieval.backends.milvus import RECORD, MilvusBackend
from retrieval.backends.sparse_bm25 import TermTable, sparse_dot, term_hash
from retrieval.errors import IndexCorrupt, IndexMismatch, RetrievalError
from retrieval.evaluation import read_squad
from retrieval.index import Index
from retrieval.ingest.build import build_index
from retrieval.pipeline import Pipeline
from retrieval.search.retriever import Retriever
from retrieval.settings import Settings
from retrieval.text.arabic import analyze

SEED_QUESTIONS = [json.loads(line)["question"] for line in (EVAL / "seed_qa.jsonl").read_text(encoding="utf-8").splitlines()]


def xquad_docs(articles: int = 2) -> tuple[list[dict], list[str]]:
    docs, qa, _ = read_squad(XQUAD)
    keep = {f"{a:03d}" for a in range(articles)}
    docs = [d for d in docs if d["id"][:3] in keep]
    questions = [item.question for item in qa][: 4 * len(docs)]
    return docs, questions


def seed_terms() -> list[list[str]]:
    return [analyze(p.read_text(encoding="utf-8")) for p in sorted(SEED_CORPUS.glob("*.txt"))]


@pytest.mark.parametrize("corpus", ["seed", "xquad"])
def test_sparse_vectors_score_as_bm25s(corpus: str) -> None:
    if corpus == "seed":
        terms = seed_terms()
        questions = SEED_QUESTIONS
    else:
        docs, questions = xquad_docs(3)
        terms = [analyze(d["title"] + "\n" + d["text"]) for d in docs]
    reference = Bm25sIndex()
    reference.build(terms)
    table = TermTable.from_corpus(terms)
    vectors = [table.doc_vector(t) for t in terms]
    for question in [*questions, "رشاد رشاد رشاد"]:
        query = analyze(question)
        ours = np.array([sparse_dot(table.query_vector(query), v) for v in vectors], np.float32)
        np.testing.assert_allclose(ours, reference.scores(query), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(table.idf(query), reference.idf(query), rtol=1e-6)


def test_term_ids_are_stable_hashes_and_collisions_get_their_own() -> None:
    terms = seed_terms()
    a, b = TermTable.from_corpus(terms), TermTable.from_corpus(list(reversed(terms)))
    assert a.ids == b.ids and all(0 < i < 2**32 - 1 for i in a.ids.values())
    assert len(set(a.ids.values())) == len(a.ids)
    table = TermTable.from_corpus([["x"]])
    table._taken.add(term_hash("y"))  # noqa: SLF001
    grown = TermTable.from_corpus([["x"], ["y"]], previous=table)  # "y"'s hash is taken: it gets another id
    assert grown.ids["x"] == table.ids["x"] and grown.ids["y"] != grown.ids["x"] and grown.avg_length == table.avg_length


# --- parity on the real seed index and an XQuAD slice ------------------------------------------------

def _passages(pipeline: Pipeline, question: str) -> tuple[list[int], str]:
    answer = pipeline.answer(question)
    return [p.chunk_index for p in pipeline.retriever.search(question, k=5)], answer.text


@pytest.fixture(scope="module")
def lite(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("lite") / "parity.db")


@pytest.mark.slow  # 30 s under load: every seed question through two pipelines
def test_seed_questions_same_passages_and_answers_on_both_backends(seed_index: Path, seed_pipeline, lite: str, tmp_path) -> None:
    settings = seed_settings(tmp_path / "index", search_backend="milvus", milvus_uri=lite, milvus_collection_prefix="parity")
    result = build_index(settings, progress=False, reuse_from=[seed_index])
    assert result.embedded == 0  # the seed index's vectors, reused
    milvus = Pipeline.load(settings)
    assert isinstance(milvus.index.backend, MilvusBackend)
    for question in SEED_QUESTIONS:
        assert _passages(milvus, question) == _passages(seed_pipeline, question), question
    answer = milvus.answer("من التقى رشاد؟")
    assert {s.doc_id[:3] for s in answer.sources} >= {"000", "001"}


@pytest.mark.slow
def test_xquad_slice_same_passages_and_answers_on_both_backends(lite: str, tmp_path: Path) -> None:
    docs, questions = xquad_docs(2)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "xquad.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    local = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "local")
    build_index(local, progress=False)
    remote = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "milvus", search_backend="milvus",
                      milvus_uri=lite, milvus_collection_prefix="xquad")
    assert build_index(remote, progress=False, reuse_from=[tmp_path / "local"]).embedded == 0
    a, b = Pipeline.load(local), Pipeline.load(remote)
    for question in questions:
        assert _passages(b, question) == _passages(a, question), question


# --- builds, updates and faults (a fake embedder: the mechanics, not the vectors) -------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiteServer:
    """`milvus-lite server`: the Lite core serving one file on a loopback port to any process."""

    def __init__(self, db: Path) -> None:
        from milvus_lite.server import Server

        self.db, self.port = db, _free_port()
        self.server = Server(str(db), f"127.0.0.1:{self.port}")
        assert self.server.init() and self.server.start()
        self.uri = f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        import psutil

        address = f"127.0.0.1:{self.port}"  # the server process, found by the address on its command line
        [process] = [p for p in psutil.Process().children() if address in p.cmdline()]
        process.kill()  # SIGKILL: no goodbye to the client
        process.wait(10)
        self.server.stop()

    def restart(self) -> None:
        from milvus_lite.server import Server

        self.server = Server(str(self.db), f"127.0.0.1:{self.port}")
        assert self.server.init() and self.server.start()


def _corpus(tmp_path: Path, n: int = 5) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    for p in sorted(SEED_CORPUS.glob("*.txt"))[:n]:
        shutil.copy(p, corpus / p.name)
    return corpus


def _settings(tmp_path: Path, uri: str, monkeypatch, **extra):
    monkeypatch.setenv("MILVUS_URI", uri)  # Index.load without settings (a fake embedder) reads it from here
    monkeypatch.setenv("MILVUS_COLLECTION_PREFIX", "faults")
    return Settings(_env_file=None, index_dir=tmp_path / "index", corpus_dir=_corpus(tmp_path), search_backend="milvus",
                    milvus_uri=uri, milvus_collection_prefix="faults", **extra)


def _docs_found(index: Index, question: str) -> set[str]:
    return {p.doc_id for p in Retriever(index, FakeEmbedder()).search(question, k=10)}


@pytest.mark.slow
def test_update_adds_and_deletes_articles_in_place_and_a_rebuild_drops_the_old_collection(tmp_path, monkeypatch) -> None:
    docs, _ = xquad_docs(6)
    kept = [d for d in docs if d["id"] < "003"]
    size = len(analyze(kept[0]["title"] + "\n" + kept[0]["text"]))  # a replacement of about the same length: an update,
    extra = min((d for d in docs if d["id"] >= "003"),  # not a rebuild (the average length moves less than 2%)
                key=lambda d: abs(len(analyze(d["title"] + "\n" + d["text"])) - size))
    settings = _settings(tmp_path, str(tmp_path / "m.db"), monkeypatch)
    for p in settings.index.corpus_dir.iterdir():
        p.unlink()
    feed = settings.index.corpus_dir / "xquad.jsonl"
    feed.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in kept), encoding="utf-8")
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    first = json.loads((settings.index.index_dir / RECORD).read_text())
    gone, new = kept[0], {**extra, "id": "new"}
    feed.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in [*kept[1:], new]), encoding="utf-8")
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    second = json.loads((settings.index.index_dir / RECORD).read_text())
    assert second["collection"] == first["collection"] and second["generation"] == first["generation"] + 1
    index = Index.load(settings.index.index_dir)
    assert set(index.backend.counts().values()) == {len(index)}
    assert gone["id"] not in {d.id for d in index.documents}
    hits = index.backend.sparse_top_k(analyze(new["text"][:300]), 5)
    assert index.documents[index.chunk(int(hits.ids[0]))[0]].id == "new"
    assert "new" in _docs_found(index, new["text"][:300])
    build_index(settings, embedder=FakeEmbedder(dim=32), progress=False)  # another embedder: a new collection
    third = json.loads((settings.index.index_dir / RECORD).read_text())
    client, _ = milvus_store.connect(settings)
    base = third["base"]
    assert third["collection"] != first["collection"]
    assert sorted(c for c in client.list_collections() if c.startswith(base)) == sorted([third["collection"], third["sentences"]])


@pytest.mark.slow
def test_server_killed_mid_build_leaves_the_previous_index_serving(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(milvus_store, "RPC_TIMEOUT", 3)  # a dead server fails each call after 3 s (default 30)
    server = LiteServer(tmp_path / "served.db")
    try:
        settings = _settings(tmp_path, server.uri, monkeypatch)
        build_index(settings, embedder=FakeEmbedder(), progress=False)
        before = Index.load(settings.index.index_dir)
        (settings.index.corpus_dir / "new.txt").write_text("زلزال\n\nضرب زلزال قوي مدينة طنجة.", encoding="utf-8")

        def kill_at(stage: str) -> None:
            if stage == "faiss":  # connected, terms analysed: the server dies before the vectors are written
                server.kill()

        with pytest.raises(RetrievalError) as failure:
            build_index(settings, embedder=FakeEmbedder(), progress=False, on_stage=kill_at)
        message = str(failure.value)
        assert "\n" not in message and server.uri in message and "previous index still serves" in message
        server.restart()
        after = Index.load(settings.index.index_dir)  # the folder and its collection are the first build's
        assert len(after) == len(before) and "new" not in _docs_found(after, "زلزال طنجة")
        build_index(settings, embedder=FakeEmbedder(), progress=False)  # the next build succeeds and tidies up
        assert "new" in _docs_found(Index.load(settings.index.index_dir), "زلزال طنجة")
    finally:
        server.server.stop()


@pytest.mark.slow
def test_a_wrong_uri_is_one_line_naming_it_and_never_the_token(tmp_path, monkeypatch) -> None:
    settings = _settings(tmp_path, str(tmp_path / "m.db"), monkeypatch)
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    secret = "root:not-the-password-1234"
    monkeypatch.setenv("MILVUS_TOKEN", secret)
    for uri in (f"http://127.0.0.1:{_free_port()}", str(tmp_path / "m.txt")):
        monkeypatch.setenv("MILVUS_URI", uri)
        with pytest.raises(RetrievalError) as failure:
            Index.load(settings.index.index_dir)
        message = str(failure.value)
        assert "\n" not in message and uri in message and secret not in message and "MILVUS_URI" in message


@pytest.mark.slow
def test_a_lite_file_open_in_another_process_says_so(tmp_path) -> None:
    db = tmp_path / "held.db"
    milvus_store.connect(Settings(_env_file=None, milvus_uri=str(db)))  # this process holds the file
    code = ("from retrieval.settings import Settings\nfrom retrieval.backends import milvus_store\n"
            f"milvus_store.connect(Settings(_env_file=None, milvus_uri={str(db)!r}))")
    run = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120,
                         env=clean_env())
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "only one process may open a Milvus Lite file" in last and str(db) in last


def test_an_empty_milvus_or_a_collection_of_another_embedder_is_refused(tmp_path, monkeypatch) -> None:
    settings = _settings(tmp_path, str(tmp_path / "m.db"), monkeypatch)
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    record = json.loads((settings.index.index_dir / RECORD).read_text())
    client, _ = milvus_store.connect(settings)
    catalog = milvus_store.Catalog(client, "faults")
    key = f"{record['collection']}@{record['generation']}"
    built = catalog.get(key)
    catalog.put(key, {**built, "signature": {**built["signature"], "embedder": {"backend": "onnx", "model": "other", "dim": 64}}})
    with pytest.raises(IndexMismatch, match="was built with embedder onnx:other") as failure:
        Index.load(settings.index.index_dir)
    assert "\n" not in str(failure.value)
    monkeypatch.setenv("MILVUS_URI", str(tmp_path / "empty.db"))  # another Milvus: the collection is not there
    with pytest.raises(IndexCorrupt, match="no finished collection") as failure:
        Index.load(settings.index.index_dir)
    assert "\n" not in str(failure.value)
