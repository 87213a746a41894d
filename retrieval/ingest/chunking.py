"""Sentence-aware chunking with exact character spans: ``doc.text[c.start:c.end] == c.text``."""

from __future__ import annotations

from retrieval.models import Chunk, Document
from retrieval.text.arabic import sentence_spans


def split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Split one over-long sentence span at whitespace into pieces of at most ``limit`` chars."""
    pieces: list[tuple[int, int]] = []
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        if cut <= start:
            cut = start + limit
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():  # "a  b": no trailing space in a piece
            piece_end -= 1
        pieces.append((start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


def sentence_units(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Sentence spans, with sentences longer than ``max_chars`` split at spaces."""
    units: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        units.extend(split_long(text, start, end, max_chars))
    return units


def chunk_document(doc: Document, size: int = 700, overlap: int = 1) -> list[Chunk]:
    """Group consecutive sentences into chunks of about ``size`` characters; neighbouring
    chunks share ``overlap`` sentences so an answer that straddles a boundary stays whole."""
    text = doc.text
    units = sentence_units(text, max(size, 50))
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j = i
        while j + 1 < len(units) and units[j + 1][1] - units[i][0] <= size:
            j += 1
        start, end = units[i][0], units[j][1]
        chunks.append(Chunk(doc_id=doc.id, start=start, end=end, text=text[start:end]))
        if j + 1 >= len(units):
            break
        # step forward, keeping ``overlap`` sentences, but always make progress
        i = max(i + 1, j + 1 - overlap)
    return chunks
