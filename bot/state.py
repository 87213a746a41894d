"""Per-chat bot state in SQLite (JSON text, never pickle): conversations, held-back
excerpts for the "more" button, each chat's /since date, and chats already told they are not allowed."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from pathlib import Path

from pydantic import BaseModel

from retrieval.models import Answer, Conversation

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (chat_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_more (chat_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refused_chats (chat_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS since_dates (chat_id INTEGER PRIMARY KEY, day TEXT NOT NULL);
"""


class PendingMore(BaseModel):
    """A chat's last answer, behind a button with a short key: the button shows its next
    page (``Answer.next_page``) of the excerpts it holds back in ``answer.more``."""

    key: str
    answer: Answer


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

    def conversation(self, chat_id: int) -> Conversation:
        """The chat's conversation (a new one when none is stored or it cannot be read)."""
        row = self._one("SELECT data FROM conversations WHERE chat_id = ?", (chat_id,))
        if row is not None:
            try:
                return Conversation.model_validate_json(row[0])
            except ValueError:
                pass  # written by an incompatible version: start afresh
        return Conversation()

    def save_conversation(self, chat_id: int, conversation: Conversation) -> None:
        self._write(
            "INSERT OR REPLACE INTO conversations (chat_id, data) VALUES (?, ?)",
            (chat_id, conversation.model_dump_json()),
        )

    def pending_more(self, chat_id: int) -> PendingMore | None:
        row = self._one("SELECT data FROM pending_more WHERE chat_id = ?", (chat_id,))
        if row is None:
            return None
        try:
            return PendingMore.model_validate_json(row[0])
        except ValueError:
            return None

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
