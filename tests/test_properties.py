"""Properties over generated input: the JSONL loader, both BM25 backends, and search."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_CORPUS, FakeEmbedder, seed_settings
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from retrieval.index import Index
from retrieval.ingest.build import build_index
from retrieval.ingest.documents import LoadReport, clean_text, load_corpus
from retrieval.ingest.furniture import strip_furniture
from retrieval.search.retriever import FUSIONS, MODES, Retriever
from retrieval.text.arabic import analyze, tokenize

HEADER = re.compile(r"\s*(?:---\s*$|(?:date|title|url|التاريخ|العنوان|الرابط)\s*:)", re.IGNORECASE)  # a .txt header
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def indexes(tmp_path_factory) -> dict[str, Index]:
    root = tmp_path_factory.mktemp("props")
    out = {}
    for name in ("bm25s", "rank-bm25"):
        build_index(seed_settings(root / name, bm25_backend=name), embedder=FakeEmbedder(), progress=False)
        out[name] = Index.load(root / name)
    return out


VOCABULARY = sorted({token for path in SEED_CORPUS.glob("*.txt") for token in tokenize(path.read_text(encoding="utf-8"))})
QUERY = st.lists(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8)), max_size=12).map(" ".join)


@FUZZ
@given(QUERY)
def test_bm25_backends_agree_on_any_query(indexes: dict[str, Index], query: str) -> None:
    terms = analyze(query)
    everything = np.arange(len(indexes["bm25s"]))
    a = indexes["bm25s"].backend.sparse_scores(terms, everything)
    b = indexes["rank-bm25"].backend.sparse_scores(terms, everything)
    assert a.shape == b.shape == (len(indexes["bm25s"]),)
    assert np.allclose(a, b, rtol=1e-5, atol=1e-6)
    assert (a >= 0).all()


@FUZZ
@given(st.one_of(QUERY, st.text(max_size=200)), st.sampled_from(MODES), st.sampled_from(sorted(FUSIONS)),
       st.integers(0, 40))
def test_search_never_raises_and_ranks(indexes: dict[str, Index], query: str, mode: str, fusion: str, k: int) -> None:
    index = indexes["bm25s"]
    passages = Retriever(index, FakeEmbedder(), fusion=fusion).search(query, k=k, mode=mode)
    assert len(passages) <= min(k, len(index))
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert len({p.chunk_index for p in passages}) == len(passages)
    for passage in passages:
        assert index.chunk(passage.chunk_index)[3] == passage.text


RECORD = st.fixed_dictionaries(
    {"text": st.text(min_size=0, max_size=60)},
    optional={
        "id": st.one_of(st.text(max_size=6), st.integers(0, 5), st.none()),
        "title": st.one_of(st.text(max_size=20), st.integers(), st.none()),
        "url": st.one_of(st.text(max_size=10), st.none()),
        "date": st.one_of(st.text(max_size=10), st.none()),
    },
)
LINE = st.one_of(RECORD.map(lambda r: json.dumps(r, ensure_ascii=False)), RECORD.map(json.dumps),
                 st.text(max_size=30).filter(lambda s: "\n" not in s and "\r" not in s))


@FUZZ
@given(st.lists(LINE, max_size=15))
def test_jsonl_loader_never_raises_and_accounts_for_every_line(tmp_path_factory, lines: list[str]) -> None:
    path = tmp_path_factory.mktemp("jsonl") / "gen.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", errors="surrogatepass")
    report = LoadReport()
    docs = list(load_corpus(path, report))
    ids = [doc.id for doc in docs]
    assert len(ids) == len(set(ids))
    line_numbers = [int(doc.source.rsplit(":", 1)[1]) for doc in docs]
    if path.stat().st_size == 0:
        assert docs == [] and [(s.line, s.reason) for s in report.skipped] == [(None, "empty file")]
        return
    skipped_lines = [item.line for item in report.skipped]
    # every non-blank line (ASCII whitespace, as the loader reads bytes) is a document or a reported skip, once
    non_blank = [i for i, line in enumerate(lines, start=1) if line.encode("utf-8", "surrogatepass").strip()]
    assert sorted(line_numbers + skipped_lines) == non_blank
    for doc, number in zip(docs, line_numbers):
        record = json.loads(lines[number - 1])
        # only furniture lines, control characters and lone surrogates go (clean_document)
        assert doc.text == clean_text(strip_furniture(record["text"])[0]) and doc.text.strip()
        assert doc.title


@FUZZ
@given(st.text(max_size=400))
def test_text_file_loader_round_trip(tmp_path_factory, text: str) -> None:
    assume(not HEADER.match(text.removeprefix("\ufeff").split("\n")[0]))
    folder = tmp_path_factory.mktemp("txt")
    path: Path = folder / "article.txt"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    report = LoadReport()
    docs = list(load_corpus(folder, report))
    assert len(docs) + len(report.skipped) == 1
    if docs:
        assert docs[0].text.strip() and docs[0].title
        # the text as written, less its site furniture lines (a header line is tested in test_documents)
        assert docs[0].text == clean_text(strip_furniture(path.read_bytes().decode("utf-8").removeprefix("\ufeff"))[0])
