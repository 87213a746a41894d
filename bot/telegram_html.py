"""Telegram HTML: styled runs of text (plain, bold, bold and underlined, a link), escaped, and packed into
messages of at most 4096 UTF-16 units, cut at sentence ends, else spaces, else characters, with every
tag closed at a cut and reopened after it (each message is valid on its own)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

from bot.urls import web_href

TELEGRAM_LIMIT = 4096  # Telegram's limit on one message, in UTF-16 code units

_SENTENCE_END = re.compile(r"(?<=[.!?؟۔…;؛\n])\s*")
_WHITESPACE = re.compile(r"\s+")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@dataclass(frozen=True)
class Run:
    """A stretch of text with one style: plain, bold (underlined too: the answer phrase), or a link."""

    text: str
    bold: bool = False
    href: str | None = None
    underline: bool = False  # with bold: the answer phrase (bold alone marks the question's words)

    def __post_init__(self) -> None:
        # every link address is cleaned here, whoever made the run: http(s) only, no control characters or
        # whitespace (bot/urls.py web_href); an address that cannot be a safe link leaves plain text
        if self.href is not None:
            object.__setattr__(self, "href", web_href(self.href))

    def opening(self) -> str:
        if self.href:
            return f'<a href="{html.escape(self.href, quote=True)}">'
        return ("<b>" if self.bold else "") + ("<u>" if self.underline else "")

    def closing(self) -> str:
        if self.href:
            return "</a>"
        return ("</u>" if self.underline else "") + ("</b>" if self.bold else "")

    def same_style(self, other: Run) -> bool:
        return self.bold == other.bold and self.href == other.href and self.underline == other.underline


@dataclass(frozen=True)
class Block:
    """One paragraph or line; ``gap`` is what separates it from the previous block."""

    runs: tuple[Run, ...]
    gap: str = "\n"


def runs_html(runs: list[Run] | tuple[Run, ...]) -> str:
    """Telegram HTML for runs: text escaped, adjacent runs of one style share a tag."""
    parts: list[str] = []
    previous: Run | None = None
    for run in runs:
        if previous is not None and not previous.same_style(run):
            parts.append(previous.closing())
        if previous is None or not previous.same_style(run):
            parts.append(run.opening())
        parts.append(html.escape(run.text, quote=False))
        previous = run
    if previous is not None:
        parts.append(previous.closing())
    return "".join(parts)


def _html_len(runs: list[Run]) -> int:
    return utf16_len(runs_html(runs))


# ---------------------------------------------------------------- splitting


def pack_messages(blocks: list[Block], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Join blocks into as few messages as fit ``limit``; a block too long for one message
    is cut at sentence ends, else at spaces, else between characters. Tags are closed at
    every cut and reopened after it, so each message is valid on its own."""
    messages: list[str] = []
    current: list[Run] = []
    for block in blocks:
        for index, piece in enumerate(_split_runs(list(block.runs), limit)):
            gap = block.gap if index == 0 else "\n"
            candidate = current + [Run(gap)] + piece if current else piece
            if current and _html_len(candidate) > limit:
                messages.append(runs_html(current))
                candidate = piece
            current = candidate
    if current:
        messages.append(runs_html(current))
    return [message for message in messages if message.strip()]


def _split_runs(runs: list[Run], limit: int, level: int = 0) -> list[list[Run]]:
    """Pieces of ``runs`` each rendering within ``limit``, whitespace-trimmed, none empty."""
    runs = _trim(runs)
    if not runs:
        return []
    if _html_len(runs) <= limit:
        return [runs]
    text = "".join(run.text for run in runs)
    if level == 0:
        cuts = [match.end() for match in _SENTENCE_END.finditer(text)]
    elif level == 1:
        cuts = [match.end() for match in _WHITESPACE.finditer(text)]
    else:
        cuts = list(range(1, len(text)))
    pieces: list[list[Run]] = []
    current: list[Run] = []
    current_len = 0
    for segment in _cut(runs, cuts):
        segment_len = _html_len(segment)
        if segment_len > limit and level < 2:
            if current:
                pieces.append(current)
                current, current_len = [], 0
            pieces += _split_runs(segment, limit, level + 1)
            continue
        joined_len = current_len + segment_len
        if current and current[-1].same_style(segment[0]):
            joined_len -= utf16_len(segment[0].opening() + segment[0].closing())
        if current and joined_len > limit:
            pieces.append(current)
            current, joined_len = [], segment_len
        current = current + segment
        current_len = joined_len
    if current:
        pieces.append(current)
    return [trimmed for piece in pieces if (trimmed := _trim(piece))]


def _cut(runs: list[Run], cuts: list[int]) -> list[list[Run]]:
    """Split runs at character offsets of their joined text."""
    segments: list[list[Run]] = [[]]
    boundaries = sorted(set(cuts))
    position = 0
    cursor = 0
    for run in runs:
        start = 0
        while cursor < len(boundaries) and boundaries[cursor] < position + len(run.text):
            offset = boundaries[cursor] - position
            if offset > start:
                segments[-1].append(replace(run, text=run.text[start:offset]))
            if segments[-1]:
                segments.append([])
            start = max(start, offset)
            cursor += 1
        if start < len(run.text):
            segments[-1].append(replace(run, text=run.text[start:]))
        position += len(run.text)
    return [segment for segment in segments if segment]


def _trim(runs: list[Run]) -> list[Run]:
    """Strip whitespace at both ends (Telegram would) and drop empty runs."""
    runs = [run for run in runs if run.text]
    while runs and not runs[0].text.strip():
        runs = runs[1:]
    while runs and not runs[-1].text.strip():
        runs = runs[:-1]
    if not runs:
        return []
    first, last = runs[0], runs[-1]
    runs[0] = replace(first, text=first.text.lstrip())
    last = runs[-1]
    runs[-1] = replace(last, text=last.text.rstrip())
    return runs
