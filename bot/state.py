"""Per-chat bot state in SQLite (JSON text, never pickle): conversations, held-back
excerpts for the "more" button, each chat's /since date, chats already told they are not allowed,
and the users' votes on answers (with what each answer was: bot/feedback.py)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field

from retrieval.models import Answer, Conversation, Excerpt, Source

M = TypeVar("M", bound=BaseModel)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (chat_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_more (chat_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refused_chats (chat_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS since_dates (chat_id INTEGER PRIMARY KEY, day TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, chat_id INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS answers_by_chat ON answers (chat_id);
CREATE TABLE IF NOT EXISTS votes (
    key TEXT NOT NULL, user_id INTEGER NOT NULL, chat_id INTEGER NOT NULL,
    vote TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY (key, user_id)
);
"""
# answers nobody voted on are kept for this many of a chat's latest answers (a vote on an older one is
# answered politely and not recorded); answers with a vote are kept for the export
KEPT_ANSWERS_PER_CHAT = 200


class PendingMore(BaseModel):
    """A chat's last answer, behind a button with a short key: the button shows its next
    page (``Answer.next_page``) of the excerpts it holds back in ``answer.more``."""

    key: str
    answer: Answer
    vote_key: str | None = None  # the answer's vote buttons, repeated under each page


class AnsweredRecord(BaseModel):
    """What one answer was, kept so that a vote on it can be recorded (even after a restart):
    the question, the resolved question, the cited articles and the excerpts shown so far."""

    question: str
    resolved_question: str
    abstained: bool = False
    cited: list[Source] = Field(default_factory=list)
    shown: list[Excerpt] = Field(default_factory=list)
    time: str  # when it was answered, ISO 8601 UTC


class Vote(BaseModel):
    """One user's vote on one answer, with the answer it is about."""

    key: str
    chat_id: int
    vote: str
    time: str
    answer: AnsweredRecord


class StateStore:
    """A small SQLite file; every method is one short transaction, safe across threads."""

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        if str(path) != ":memory:":
            path.chmod(0o600)  # it holds users' questions
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _write(self, sql: str, args: tuple) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def _stored(self, model: type[M], sql: str, args: tuple) -> M | None:
        """The JSON row ``sql`` selects, read as ``model``; None when there is none or it cannot be read
        (written by an incompatible version)."""
        row = self._one(sql, args)
        if row is None:
            return None
        try:
            return model.model_validate_json(row[0])
        except ValueError:
            return None

    def conversation(self, chat_id: int) -> Conversation:
        """The chat's conversation (a new one when none is stored or it cannot be read)."""
        stored = self._stored(Conversation, "SELECT data FROM conversations WHERE chat_id = ?", (chat_id,))
        return stored if stored is not None else Conversation()  # none yet, or unreadable: start afresh

    def save_conversation(self, chat_id: int, conversation: Conversation) -> None:
        self._write(
            "INSERT OR REPLACE INTO conversations (chat_id, data) VALUES (?, ?)",
            (chat_id, conversation.model_dump_json()),
        )

    def pending_more(self, chat_id: int) -> PendingMore | None:
        return self._stored(PendingMore, "SELECT data FROM pending_more WHERE chat_id = ?", (chat_id,))

    def save_pending_more(self, chat_id: int, pending: PendingMore | None) -> None:
        if pending is None or not pending.answer.more:
            self._write("DELETE FROM pending_more WHERE chat_id = ?", (chat_id,))
        else:
            self._write(
                "INSERT OR REPLACE INTO pending_more (chat_id, data) VALUES (?, ?)",
                (chat_id, pending.model_dump_json()),
            )

    def since(self, chat_id: int) -> date | None:
        """The chat's /since date (None: every date, or a row that cannot be read)."""
        row = self._one("SELECT day FROM since_dates WHERE chat_id = ?", (chat_id,))
        try:
            return date.fromisoformat(row[0]) if row else None
        except ValueError:
            return None

    def save_since(self, chat_id: int, day: date | None) -> None:
        """Set the chat's /since date; None lifts it. Kept across /new (a setting, not the conversation)."""
        if day is None:
            self._write("DELETE FROM since_dates WHERE chat_id = ?", (chat_id,))
        else:
            self._write("INSERT OR REPLACE INTO since_dates (chat_id, day) VALUES (?, ?)", (chat_id, day.isoformat()))

    def forget(self, chat_id: int) -> None:
        """Drop the chat's conversation and held-back excerpts (/new)."""
        with self._lock:
            self._db.execute("DELETE FROM conversations WHERE chat_id = ?", (chat_id,))
            self._db.execute("DELETE FROM pending_more WHERE chat_id = ?", (chat_id,))

    def mark_refused(self, chat_id: int) -> bool:
        """Record that the chat was refused; True the first time only."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO refused_chats (chat_id) VALUES (?)", (chat_id,)
            )
            return cursor.rowcount == 1

    # ------------------------------------------------------------ feedback

    def save_answer(self, key: str, chat_id: int, record: AnsweredRecord) -> None:
        """Remember an answer under its button key; a chat's oldest unvoted answers beyond
        KEPT_ANSWERS_PER_CHAT are forgotten."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, chat_id, data) VALUES (?, ?, ?)",
                (key, chat_id, record.model_dump_json()),
            )
            self._db.execute(
                "DELETE FROM answers WHERE chat_id = ? AND key NOT IN (SELECT key FROM votes) AND rowid NOT IN"
                " (SELECT rowid FROM answers WHERE chat_id = ? ORDER BY rowid DESC LIMIT ?)",
                (chat_id, chat_id, KEPT_ANSWERS_PER_CHAT),
            )

    def answered(self, key: str) -> AnsweredRecord | None:
        return self._stored(AnsweredRecord, "SELECT data FROM answers WHERE key = ?", (key,))

    def save_vote(self, key: str, chat_id: int, user_id: int, vote: str, time: str) -> str | None:
        """Record ``vote`` on the answer ``key`` (a second vote by the same user replaces the
        first); returns the vote it replaced (None the first time)."""
        with self._lock:
            row = self._db.execute("SELECT vote FROM votes WHERE key = ? AND user_id = ?", (key, user_id)).fetchone()
            self._db.execute(
                "INSERT OR REPLACE INTO votes (key, user_id, chat_id, vote, time) VALUES (?, ?, ?, ?, ?)",
                (key, user_id, chat_id, vote, time),
            )
        return row[0] if row else None

    def votes(self) -> list[Vote]:
        """Every vote with its answer, oldest first (a row that cannot be read is left out)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT v.key, v.chat_id, v.vote, v.time, a.data FROM votes v JOIN answers a ON a.key = v.key"
                " ORDER BY v.time, v.rowid"
            ).fetchall()
        votes = []
        for key, chat_id, vote, time, data in rows:
            try:
                votes.append(Vote(key=key, chat_id=chat_id, vote=vote, time=time,
                                  answer=AnsweredRecord.model_validate_json(data)))
            except ValueError:
                continue
        return votes
