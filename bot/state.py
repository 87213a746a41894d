"""Per-chat bot state in SQLite (JSON text, never pickle): conversations, held-back
excerpts for the "more" button, each chat's /since date, chats already told they are not allowed,
and the users' votes on answers (with what each answer was: bot/feedback.py).

Retention (docs/privacy.md): each row carries when it was written, and ``purge`` deletes what is older
than CONVERSATION_DAYS / ANSWER_DAYS / VOTE_DAYS (the bot purges at start and hourly). A file that is
not a readable SQLite database is moved aside (``.damaged-<time>``) and the bot starts afresh."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field

from retrieval.models import Answer, Conversation, Excerpt, Source
from retrieval.settings import Settings

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (chat_id INTEGER PRIMARY KEY, data TEXT NOT NULL, updated REAL);
CREATE TABLE IF NOT EXISTS pending_more (chat_id INTEGER PRIMARY KEY, data TEXT NOT NULL, updated REAL);
CREATE TABLE IF NOT EXISTS refused_chats (chat_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS since_dates (chat_id INTEGER PRIMARY KEY, day TEXT NOT NULL, updated REAL);
CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, chat_id INTEGER NOT NULL, data TEXT NOT NULL, created REAL);
CREATE INDEX IF NOT EXISTS answers_by_chat ON answers (chat_id);
CREATE TABLE IF NOT EXISTS votes (
    key TEXT NOT NULL, user_id INTEGER NOT NULL, chat_id INTEGER NOT NULL,
    vote TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY (key, user_id)
);
"""
# the time columns added for retention, for a state file written before them (its rows' clock starts at the upgrade)
_TIME_COLUMNS = {"conversations": "updated", "pending_more": "updated", "since_dates": "updated", "answers": "created"}
# answers nobody voted on are kept for this many of a chat's latest answers (a vote on an older one is
# answered politely and not recorded); answers with a vote are kept for the export, up to ANSWER_DAYS
KEPT_ANSWERS_PER_CHAT = 200
DAY = 86_400.0


@dataclass(frozen=True)
class Retention:
    """How long rows are kept, in days since they were last written (0 or less: kept for ever)."""

    conversation_days: float = 7.0  # a chat's conversation, held-back "more" and /since period (idle time)
    answer_days: float = 30.0  # stored answers: the question text, for votes
    vote_days: float = 365.0  # votes: answer key, user, chat, vote, time (no text)

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(settings.privacy.conversation_days, settings.privacy.answer_days, settings.privacy.vote_days)


class DamagedState(sqlite3.DatabaseError):
    """The state file is not a readable SQLite database."""


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

    def __init__(self, path: Path | str, *, retention: Retention | None = None, repair: bool = True) -> None:
        """Open (or create) the state at ``path``. With ``repair``, a damaged file is moved aside with a warning
        and a fresh state started; without, DamagedState is raised. With ``retention``, expired rows are purged now."""
        path = Path(path)
        self.retention = retention
        self._lock = threading.Lock()
        try:
            self._db = self._open(path)
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) or not repair or str(path) == ":memory:":
                raise  # locked, unreadable for permissions, ...: not damage; never moved aside
            aside = _move_aside(path)
            log.warning("the bot state %s is damaged (%s): moved it aside to %s and started with a fresh state;"
                        " delete that file once you no longer need it", path, error, aside.name)
            self._db = self._open(path)
        if retention is not None:
            self.purge()

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        try:
            if str(path) != ":memory:":
                path.chmod(0o600)  # it holds users' questions
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            check = db.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                raise DamagedState("; ".join(str(row[0]) for row in check[:3]))
            db.executescript(_SCHEMA)
            now = time.time()
            for table, column in _TIME_COLUMNS.items():
                if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} REAL")
                db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} IS NULL", (now,))
        except BaseException:
            db.close()
            raise
        return db

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
            "INSERT OR REPLACE INTO conversations (chat_id, data, updated) VALUES (?, ?, ?)",
            (chat_id, conversation.model_dump_json(), time.time()),
        )

    def pending_more(self, chat_id: int) -> PendingMore | None:
        return self._stored(PendingMore, "SELECT data FROM pending_more WHERE chat_id = ?", (chat_id,))

    def save_pending_more(self, chat_id: int, pending: PendingMore | None) -> None:
        if pending is None or not pending.answer.more:
            self._write("DELETE FROM pending_more WHERE chat_id = ?", (chat_id,))
        else:
            self._write(
                "INSERT OR REPLACE INTO pending_more (chat_id, data, updated) VALUES (?, ?, ?)",
                (chat_id, pending.model_dump_json(), time.time()),
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
            self._write("INSERT OR REPLACE INTO since_dates (chat_id, day, updated) VALUES (?, ?, ?)",
                        (chat_id, day.isoformat(), time.time()))

    def forget(self, chat_id: int) -> None:
        """/new: delete the chat's conversation, held-back excerpts, stored answers (their question text) and the
        votes on them, in one transaction. The /since period stays: a setting of the chat, not a question."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for table in ("conversations", "pending_more", "answers", "votes"):
                    self._db.execute(f"DELETE FROM {table} WHERE chat_id = ?", (chat_id,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def purge(self, now: float | None = None) -> int:
        """Delete the rows older than the retention allows (none without a retention); returns how many.
        A chat's /since period goes with its conversation: when neither was written for CONVERSATION_DAYS."""
        retention = self.retention
        if retention is None:
            return 0
        now = time.time() if now is None else now
        deleted = 0
        with self._lock:
            if retention.conversation_days > 0:
                cutoff = now - retention.conversation_days * DAY
                for sql in ("DELETE FROM conversations WHERE updated < ?", "DELETE FROM pending_more WHERE updated < ?",
                            "DELETE FROM since_dates WHERE updated < ?1 AND chat_id NOT IN"
                            " (SELECT chat_id FROM conversations WHERE updated >= ?1)"):
                    deleted += self._db.execute(sql, (cutoff,)).rowcount
            if retention.answer_days > 0:
                cutoff = now - retention.answer_days * DAY
                deleted += self._db.execute("DELETE FROM answers WHERE created < ?", (cutoff,)).rowcount
            if retention.vote_days > 0:
                cutoff = datetime.fromtimestamp(now - retention.vote_days * DAY, timezone.utc).isoformat(timespec="seconds")
                deleted += self._db.execute("DELETE FROM votes WHERE time < ?", (cutoff,)).rowcount
        if deleted:
            log.info("deleted %d expired row(s) from the bot state", deleted)
        return deleted

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
            self._db.execute(  # a page of "more" updates the record and keeps when it was first answered
                "INSERT INTO answers (key, chat_id, data, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET chat_id = excluded.chat_id, data = excluded.data",
                (key, chat_id, record.model_dump_json(), time.time()),
            )
            self._db.execute(
                "DELETE FROM answers WHERE chat_id = ? AND key NOT IN (SELECT key FROM votes) AND rowid NOT IN"
                " (SELECT rowid FROM answers WHERE chat_id = ? ORDER BY rowid DESC LIMIT ?)",
                (chat_id, chat_id, KEPT_ANSWERS_PER_CHAT),
            )

    def answered(self, key: str, chat_id: int | None = None) -> AnsweredRecord | None:
        """The answer stored under ``key``; given ``chat_id``, only if it was sent to that chat."""
        if chat_id is None:
            return self._stored(AnsweredRecord, "SELECT data FROM answers WHERE key = ?", (key,))
        return self._stored(AnsweredRecord, "SELECT data FROM answers WHERE key = ? AND chat_id = ?", (key, chat_id))

    def answer_chat(self, key: str) -> int | None:
        """The chat the answer ``key`` was sent to (None: not stored)."""
        row = self._one("SELECT chat_id FROM answers WHERE key = ?", (key,))
        return row[0] if row else None

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
        for key, chat_id, vote, voted_at, data in rows:
            try:
                votes.append(Vote(key=key, chat_id=chat_id, vote=vote, time=voted_at,
                                  answer=AnsweredRecord.model_validate_json(data)))
            except ValueError:
                continue
        return votes


def _move_aside(path: Path) -> Path:
    """Rename a damaged state file (and its -wal / -shm companions) to ``NAME.damaged-<UTC time>``; the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    count = 1
    while aside.exists():
        count += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{count}")
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.replace(aside.with_name(aside.name + suffix))
    path.replace(aside)
    return aside
