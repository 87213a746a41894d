"""Training and evaluation examples for the reader: a question, the sentences of its paragraph (cut
exactly as the index cuts them) and which of them holds the answer.

XQuAD holds the same paragraphs and questions in 12 languages (identical ids): the Arabic paragraph
is always the one searched (the index holds Arabic), the question comes in any language, and the
gold sentence is the Arabic sentence that holds the Arabic answer. Folds are by article, so no
article of a held-out fold is trained on in any language. ARCD (native Arabic questions) is
folded by its articles (titles) the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from retrieval.ingest.chunking import sentence_units

XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
SENTENCE_MAX_CHARS = 1200  # the index's chunk size: sentence_units cuts with it


@dataclass(frozen=True)
class Example:
    question: str
    language: str
    source: str  # "xquad" | "arcd" | "ant" (cloze questions from the news archive: retrieval/reader/cloze.py)
    article: str  # the fold key: every language of one article falls in one fold
    sentences: tuple[int, ...]  # the paragraph's sentences (ids into the sentence table)
    gold: int  # the sentence id holding the answer
    qid: str


@dataclass
class Dataset:
    sentences: list[str]  # Arabic sentence texts
    examples: list[Example]

    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.sentences).encode()).hexdigest()[:16]


def article_key(source: str, index: int, article: dict) -> str:
    """The fold key of an article of a SQuAD file: XQuAD's by position, ARCD's by title."""
    return f"xquad:{index}" if source == "xquad" else f"arcd:{article['title']}"


def fold_of(article: str, folds: int = 2) -> int:
    """A stable fold for an article key (XQuAD: first half of its 48 articles fold 0, second half 1)."""
    source, _, key = article.partition(":")
    if source == "xquad":
        return int(key) * folds // 48
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % folds


def _gold_sentence(spans: list[tuple[int, int]], context: str, answer: dict) -> int | None:
    start = int(answer["answer_start"])
    text = answer["text"].strip()
    for i, (lo, hi) in enumerate(spans):
        if lo <= start < hi:
            return i if text and text in context[lo:hi] else None
    return None


def load(xquad_dir: Path | None, arcd_file: Path | None, languages: tuple[str, ...] = XQUAD_LANGUAGES) -> Dataset:
    sentences: list[str] = []
    examples: list[Example] = []

    def add_paragraph(context: str) -> tuple[list[tuple[int, int]], int]:
        spans = sentence_units(context, SENTENCE_MAX_CHARS)
        first = len(sentences)
        sentences.extend(context[lo:hi] for lo, hi in spans)
        return spans, first

    if xquad_dir is not None:
        xquad_dir = Path(xquad_dir)
        arabic = json.loads((xquad_dir / "xquad.ar.json").read_text(encoding="utf-8"))["data"]
        translated: dict[str, dict[str, str]] = {}
        for lang in languages:
            path = xquad_dir / "xquad.ar.json" if lang == "ar" else xquad_dir / "other-languages" / f"xquad.{lang}.json"
            for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
                for paragraph in article["paragraphs"]:
                    for qa in paragraph["qas"]:
                        translated.setdefault(qa["id"], {})[lang] = qa["question"].strip()
        for a_index, article in enumerate(arabic):
            for paragraph in article["paragraphs"]:
                spans, first = add_paragraph(paragraph["context"])
                ids = tuple(range(first, first + len(spans)))
                for qa in paragraph["qas"]:
                    gold = _gold_sentence(spans, paragraph["context"], qa["answers"][0])
                    if gold is None:
                        continue
                    for lang, question in translated.get(qa["id"], {}).items():
                        examples.append(Example(question, lang, "xquad", article_key("xquad", a_index, article), ids,
                                                first + gold, qa["id"]))
    if arcd_file is not None:
        for a_index, article in enumerate(json.loads(Path(arcd_file).read_text(encoding="utf-8"))["data"]):
            for paragraph in article["paragraphs"]:
                spans, first = add_paragraph(paragraph["context"])
                ids = tuple(range(first, first + len(spans)))
                for qa in paragraph["qas"]:
                    gold = _gold_sentence(spans, paragraph["context"], qa["answers"][0])
                    if gold is not None:
                        examples.append(Example(qa["question"].strip(" -\n"), "ar", "arcd",
                                                article_key("arcd", a_index, article), ids, first + gold, qa["id"]))
    return Dataset(sentences, examples)
