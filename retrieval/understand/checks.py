"""The one check every question passes, whichever front end it came from: what is refused, with the message id
that says why (worded by retrieval/answer/catalog), and which retrieval modes exist."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retrieval.errors import UnknownBackend
from retrieval.models import RefusalReason
from retrieval.search.retriever import MODES
from retrieval.understand.smalltalk import small_talk as _small_talk

__all__ = ["MODES", "Refusal", "check_mode", "check_question"]


@dataclass(frozen=True)
class Refusal:
    """Why a question is not searched, and the message id (with its parameters) that says so politely."""

    reason: RefusalReason
    message_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    language: str = "ar"

    @property
    def message(self) -> str:
        """The message in the question's language (front ends that refuse before answering)."""
        from retrieval.answer.catalog import word

        return word(self.message_id, self.language, **self.params)


def check_question(question: str, max_chars: int, *, small_talk: bool = True) -> Refusal | None:
    """None when ``question`` may be searched; otherwise the refusal. Questions over
    ``max_chars`` characters (after trimming) are refused, never cut: a cut question would
    be answered as if the user had asked something else."""
    from retrieval.understand.language import question_language

    text = (question or "").strip()
    if not text:
        return Refusal("empty", "question.empty")
    language = question_language(text)
    if len(text) > max_chars:
        return Refusal("too_long", "question.too_long", {"size": len(text), "limit": max_chars}, language)
    if not any(character.isalnum() for character in text):
        return Refusal("no_words", "question.no_words", language=language)
    if small_talk and (kind := _small_talk(text)):  # "السلام عليكم", "شكراً", "hi": answered in kind, not searched
        return Refusal("small_talk", f"small_talk.{kind}", language=language)
    return None


def check_mode(mode: str) -> str:
    """``mode`` when it is a retrieval mode; UnknownBackend listing the choices otherwise."""
    if mode not in MODES:
        raise UnknownBackend(f"Unknown mode {mode!r}; choose one of: {', '.join(MODES)}.")
    return mode
