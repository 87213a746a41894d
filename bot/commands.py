"""Command parsing shared by the front ends (REPL ":since", Telegram "/since"): the value of since / until, and the
words that turn a date off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from retrieval.understand.timeframe import TimeFrame, parse_period

OFF_WORDS = frozenset(("off", "none", "الغاء", "إلغاء"))


@dataclass(frozen=True)
class DateCommand:
    """A parsed ``since``/``until`` value: ``off`` lifts it, ``frame`` sets it, neither: not a date."""

    off: bool = False
    frame: TimeFrame | None = None

    @property
    def valid(self) -> bool:
        return self.off or self.frame is not None


def parse_date_command(value: str, reference: date | None = None) -> DateCommand:
    """``off`` (or none, إلغاء) -> off; a date ("2018-03-01", "مارس 2018", "2018") -> its frame; else invalid."""
    value = (value or "").strip()
    if value.lower() in OFF_WORDS:
        return DateCommand(off=True)
    return DateCommand(frame=parse_period(value, reference))


def split_command(line: str, prefix: str) -> tuple[str, str] | None:
    """(command, value) of ``line`` starting with ``prefix`` (":" or "/"); None for a question."""
    if not line.startswith(prefix):
        return None
    command, _, value = line[len(prefix):].partition(" ")
    return command.split("@", 1)[0].lower() if prefix == "/" else command, value.strip()
