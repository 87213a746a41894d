"""The one check every question passes, whichever front end it came from: what is refused
(and in which words), and which retrieval modes exist."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval import messages
from retrieval.errors import UnknownBackend
from retrieval.models import RefusalReason
from retrieval.search.retriever import MODES
from retrieval.understand.smalltalk import small_talk


@dataclass(frozen=True)
class Refusal:
    """Why a question is not searched, and the polite message that says so."""

    reason: RefusalReason
    message: str


def check_question(question: str, max_chars: int) -> Refusal | None:
    """None when ``question`` may be searched; otherwise the refusal. Questions over
    ``max_chars`` characters (after trimming) are refused, never cut: a cut question would
    be answered as if the user had asked something else."""
    text = (question or "").strip()
    if not text:
        return Refusal("empty", messages.EMPTY_QUESTION)
    if len(text) > max_chars:
        wording = messages.worded(messages.TOO_LONG, messages.question_language(text))
        return Refusal("too_long", wording.format(size=len(text), limit=max_chars))
    if not any(character.isalnum() for character in text):
        return Refusal("no_words", messages.NO_WORDS)
    if kind := small_talk(text):  # "السلام عليكم", "شكراً", "hi": answered in kind, not searched
        return Refusal("small_talk", messages.worded(messages.SMALL_TALK[kind], messages.question_language(text)))
    return None


def check_mode(mode: str) -> str:
    """``mode`` when it is a retrieval mode; UnknownBackend listing the choices otherwise."""
    if mode not in MODES:
        raise UnknownBackend(f"Unknown mode {mode!r}; choose one of: {', '.join(MODES)}.")
    return mode
