"""The one service function every front end calls: ask(question, session) -> Answer.

A Session is what a front end keeps per chat: the conversation (follow-ups), the period (:since / :until) and the
last answer (for "more"). evaluate.py asks through the same function, so it scores what users get."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.models import Answer, Conversation
from retrieval.pipeline import Pipeline
from retrieval.understand.timeframe import TimeFrame, conversation_window


@dataclass
class Session:
    """One chat's state between questions."""

    conversation: Conversation | None = field(default_factory=Conversation)
    since: TimeFrame | None = None
    until: TimeFrame | None = None
    k: int | None = None
    mode: str | None = None
    last: Answer | None = None

    @property
    def within(self) -> TimeFrame | None:
        return conversation_window(self.since, self.until)

    def forget(self) -> None:
        """/new, :new: the conversation starts afresh (the period and the settings stay)."""
        self.conversation = Conversation() if self.conversation is not None else None
        self.last = None


def ask(pipeline: Pipeline, question: str, session: Session | None = None) -> Answer:
    """Answer ``question`` in ``session`` (None: a question on its own): Understand, Search, Answer."""
    session = session if session is not None else Session(conversation=None)
    answer = pipeline.answer(question, session.conversation, k=session.k, mode=session.mode, within=session.within)
    session.last = answer
    return answer
