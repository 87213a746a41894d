"""Sentence-aware chunking: exact spans, full coverage, size limits, overlap."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.ingest.chunking import chunk_document, sentence_units, split_long
from retrieval.ingest.documents import load_corpus
from retrieval.models import Chunk, Document
from retrieval.text.arabic import sentence_spans

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SEED_DOCS = list(load_corpus(CORPUS))


def check_chunks(doc: Document, chunks: list[Chunk], size: int, overlap: int) -> None:
    """Every invariant of ``chunk_document``'s output."""
    text = doc.text
    limit = max(size, 50)
    units = sentence_units(text, limit)
    for chunk in chunks:
        assert chunk.doc_id == doc.id
        assert 0 <= chunk.start < chunk.end <= len(text)
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
    # chunks are in order and every sentence (unit) is inside some chunk
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    for start, end in units:
        assert any(c.start <= start and end <= c.end for c in chunks), (start, end)
    # chunk boundaries are unit boundaries
    starts, ends = {u[0] for u in units}, {u[1] for u in units}
    for chunk in chunks:
        assert chunk.start in starts and chunk.end in ends
    # the size holds, except for a chunk of one unit (a long sentence is split to the limit)
    for chunk in chunks:
        inside = [u for u in units if chunk.start <= u[0] and u[1] <= chunk.end]
        assert chunk.end - chunk.start <= size or len(inside) == 1
        assert all(end - start <= limit for start, end in inside)
    # neighbours share ``overlap`` units when the earlier chunk has more than that
    for before, after in zip(chunks, chunks[1:]):
        shared = [u for u in units if after.start <= u[0] and u[1] <= before.end]
        before_units = [u for u in units if before.start <= u[0] and u[1] <= before.end]
        assert len(shared) == min(overlap, len(before_units) - 1)


def test_seed_corpus_is_loaded() -> None:
    assert len(SEED_DOCS) == 5


@pytest.mark.parametrize("doc", SEED_DOCS, ids=[d.id for d in SEED_DOCS])
@pytest.mark.parametrize(("size", "overlap"), [(700, 1), (300, 1), (120, 2), (50, 0)])
def test_seed_articles(doc: Document, size: int, overlap: int) -> None:
    chunks = chunk_document(doc, size, overlap)
    assert chunks
    check_chunks(doc, chunks, size, overlap)


def test_seed_article_neighbours_share_a_sentence() -> None:
    doc = SEED_DOCS[0]
    sentences = {doc.text[start:end] for start, end in sentence_spans(doc.text)}
    chunks = chunk_document(doc, 300, 1)
    # a chunk of one sentence cannot give one away; every other chunk does
    pairs = [(b, a) for b, a in zip(chunks, chunks[1:]) if sum(s in b.text for s in sentences) > 1]
    assert len(pairs) >= 2
    for before, after in pairs:
        assert after.start < before.end
        shared = doc.text[after.start : before.end]
        assert shared in sentences  # exactly one whole sentence
        assert before.text.endswith(shared) and after.text.startswith(shared)


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "...", "؟"])
def test_empty_document_has_no_chunks(text: str) -> None:
    assert chunk_document(Document(id="e", title="e", text=text, source="e.txt")) == []


def test_over_long_sentence_is_split_at_spaces() -> None:
    words = [f"كلمة{i}" for i in range(400)]
    text = " ".join(words) + "."
    doc = Document(id="long", title="t", text=text, source="long.txt")
    chunks = chunk_document(doc, 200, 1)
    assert len(chunks) > 5
    check_chunks(doc, chunks, 200, 1)
    for chunk in chunks:
        assert len(chunk.text) <= 200
        # cut at a space: no word is broken
        assert all(piece in words or piece == words[-1] + "." for piece in chunk.text.split())


def test_split_long_without_spaces_cuts_at_the_limit() -> None:
    text = "ا" * 250
    pieces = split_long(text, 0, 250, 100)
    assert pieces == [(0, 100), (100, 200), (200, 250)]


def test_split_long_skips_runs_of_spaces() -> None:
    text = "abc  " * 40
    end = len(text.rstrip())
    for start, stop in split_long(text, 0, end, 50):
        assert text[start:stop] == text[start:stop].strip()
        assert stop - start <= 50


# --- properties ----------------------------------------------------------------------------

WORD = st.text(
    st.one_of(st.characters(min_codepoint=0x0621, max_codepoint=0x064A), st.sampled_from(list("abcXYZ0123456789"))),
    min_size=1,
    max_size=14,
)
SEPARATOR = st.sampled_from([" ", " ", " ", "  ", ". ", "؟ ", "! ", "، ", "\n", "\n\n", "\t", " 3.5 ", "\u200f "])


@st.composite
def article_text(draw) -> str:
    n = draw(st.integers(0, 250))
    return "".join(draw(WORD) + draw(SEPARATOR) for _ in range(n))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(article_text(), st.text(max_size=300)), st.integers(20, 500), st.integers(0, 3))
def test_chunk_invariants_on_generated_text(text: str, size: int, overlap: int) -> None:
    doc = Document(id="g", title="g", text=text, source="g.txt")
    chunks = chunk_document(doc, size, overlap)
    check_chunks(doc, chunks, size, overlap)
    assert (chunks == []) == (sentence_spans(text) == [])
