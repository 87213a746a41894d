"""Users' votes on answers: the "useful / not useful" buttons' data, what is remembered of an
answer so that a vote can be recorded, and the export of the votes as a JSON Lines evaluation
file (``python -m bot --export-feedback FILE``).

An exported line is a QA item that ``evaluate.py --qa`` reads (``question``, ``answers``), with
``answers`` left empty: the bot only knows what it showed and what the user thought of it, not
the right answer, and quoting its own excerpts as the gold answer would score the bot against
itself. A reviewer fills ``answers`` (README, "Feedback"); ``review: true`` marks the answers a
user found not useful, the ones to look at first."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from bot.state import AnsweredRecord, StateStore, Vote
from retrieval.models import Answer, Excerpt, Source

VOTE_PREFIX = "vote:"
USEFUL, NOT_USEFUL = "useful", "not_useful"
# the vote in the button's data: one letter, so a key of any length Telegram allows still fits 64 bytes
VOTE_CODES = {"u": USEFUL, "n": NOT_USEFUL}


def vote_data(code: str, key: str) -> str:
    return f"{VOTE_PREFIX}{code}:{key}"


def parse_vote_data(data: str) -> tuple[str, str] | None:
    """``"vote:u:KEY"`` -> (``"useful"``, KEY); None when it is not a vote button's data."""
    code, _, key = data.removeprefix(VOTE_PREFIX).partition(":")
    if not data.startswith(VOTE_PREFIX) or code not in VOTE_CODES or not key:
        return None
    return VOTE_CODES[code], key


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def shown_sources(answer: Answer, excerpts: list[Excerpt]) -> list[Source]:
    """The sources the shown excerpts cite."""
    cited = {number for excerpt in excerpts for number in excerpt.citations}
    return [source for source in answer.sources if source.number in cited]


def answered_record(answer: Answer) -> AnsweredRecord:
    """What is kept of an answer for a vote: its questions, the excerpts shown and the
    articles they cite (not the passages, not the excerpts held back for "more")."""
    return AnsweredRecord(
        question=answer.question,
        resolved_question=answer.resolved_question,
        abstained=answer.abstained,
        cited=shown_sources(answer, answer.excerpts),
        shown=answer.excerpts,
        time=now_iso(),
    )


def with_page(record: AnsweredRecord, page: Answer) -> AnsweredRecord:
    """The record after the user was shown ``page`` ("more"): its excerpts and sources added."""
    known = {source.number for source in record.cited}
    cited = record.cited + [s for s in shown_sources(page, page.excerpts) if s.number not in known]
    return record.model_copy(update={"cited": sorted(cited, key=lambda s: s.number),
                                     "shown": record.shown + page.excerpts})


def feedback_item(vote: Vote) -> dict:
    """One line of the export (the chat and user ids stay in the state file)."""
    answer = vote.answer
    return {
        "question": answer.question,
        "answers": [],  # the reviewer's: see the module docstring
        "resolved_question": answer.resolved_question,
        "vote": vote.vote,
        "review": vote.vote == NOT_USEFUL,
        "abstained": answer.abstained,
        "cited": [
            {"number": s.number, "doc_id": s.doc_id, "title": s.title, "source": s.source, "url": s.url, "date": s.date}
            for s in answer.cited
        ],
        "shown": [{"text": e.text, "doc_id": e.doc_id, "citations": e.citations} for e in answer.shown],
        "answered_at": answer.time,
        "time": vote.time,
    }


def export_feedback(store: StateStore, path: Path) -> tuple[int, int]:
    """Write every vote as a JSON line to ``path`` (written whole or not at all); returns
    (votes, of which to review). Raises OSError when ``path`` cannot be written."""
    items = [feedback_item(vote) for vote in store.votes()]
    text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} does not exist")
    # a temporary sibling then a rename: an interrupted export never leaves half a file
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(items), sum(item["review"] for item in items)
