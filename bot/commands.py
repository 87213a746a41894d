"""Command parsing shared by the front ends: the REPL's ":new", ":more", ":since DATE" and Telegram's "/new",
"/since DATE", "/new@bot" and its "more" button are read here, once: the command's name and value, the value of
since / until (and the words that turn a date off), the "more" button's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from retrieval.understand.timeframe import TimeFrame, parse_period

OFF_WORDS = frozenset(("off", "none", "الغاء", "إلغاء"))
# the commands both front ends know, by name (the REPL types ":name", Telegram "/name" or presses "more")
MORE, NEW, SINCE, UNTIL = "more", "new", "since", "until"
QUIT_WORDS = frozenset(("quit", "q", "exit"))  # the REPL's: any of them is QUIT
QUIT = "quit"
# callback data of the "more" button: MORE_PREFIX + the key of the page it shows (bot/state.py PendingMore)
MORE_PREFIX = f"{MORE}:"


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


@dataclass(frozen=True)
class Command:
    """A command line: its name (lower case; the REPL's quit words are QUIT), its value (the rest, trimmed) and,
    for Telegram's "/new@bot", the bot it names ("" when none)."""

    name: str
    value: str = ""
    bot: str = ""


def parse_command(line: str, prefix: str) -> Command | None:
    """The command of ``line`` typed with ``prefix`` (":" in the REPL, "/" in Telegram); None for a question."""
    line = (line or "").strip()
    if not line.startswith(prefix):
        return None
    word, _, value = line[len(prefix):].partition(" ")
    name, _, bot = word.partition("@") if prefix == "/" else (word, "", "")
    name = name.lower()
    return Command(QUIT if name in QUIT_WORDS else name, value.strip(), bot)


def more_data(key: str) -> str:
    """The "more" button's callback data for the held-back page under ``key``."""
    return MORE_PREFIX + key


def more_key(data: str | None) -> str | None:
    """The key of a "more" button's callback data; None for other data."""
    return data[len(MORE_PREFIX):] if data and data.startswith(MORE_PREFIX) else None
