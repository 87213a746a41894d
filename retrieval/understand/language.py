"""The question's language, decided once for the whole answer (its words, its dates, its buttons)."""

from __future__ import annotations


def question_language(question: str) -> str:
    """"en" when most of the question's letters are Latin (asked in English), else "ar"."""
    letters = [ch for ch in question if ch.isalpha()]
    latin = sum(ch.isascii() for ch in letters)
    return "en" if letters and latin > len(letters) / 2 else "ar"


def latin_share(tokens: list[str]) -> float:
    """Share of Latin-script tokens (the answerability model's "latin" feature)."""
    return sum(t.isascii() for t in tokens) / len(tokens) if tokens else 0.0
