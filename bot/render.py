"""Answer -> terminal text, Telegram HTML messages (escaped, balanced, split at 4096) and the JSON
form. Each source shows its publication date; a relative date inside an excerpt ("اليوم الثلاثاء")
is resolved against its article's date and shown on a line of its own under the excerpt, never
inside the quote (quotes stay verbatim)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.feedback import vote_data
from bot.urls import is_web_url
from retrieval.calendar_ar import format_date_ar, parse_date
from retrieval.messages import (
    MORE_BUTTON,
    NO_ANSWER,
    SOURCES_HEADING,
    SUGGESTIONS_HEADING,
    VOTE_NOT_USEFUL_BUTTON,
    VOTE_USEFUL_BUTTON,
)
from retrieval.models import Answer, DocumentInfo, Excerpt, Source
from retrieval.relative_dates import DateNote, resolve

if TYPE_CHECKING:  # the REPL renders too: telegram is imported only where buttons are made
    from telegram import InlineKeyboardMarkup

TELEGRAM_LIMIT = 4096  # Telegram's limit on one message, in UTF-16 code units

_ANSI_HIGHLIGHT = "\x1b[1;33m"
_ANSI_DIM = "\x1b[2m"
_ANSI_BOLD = "\x1b[1m"
_ANSI_RESET = "\x1b[0m"

# C0 controls other than tab/newline, and lone surrogates: not valid in a Telegram message
_UNSENDABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_SENTENCE_END = re.compile(r"(?<=[.!?؟۔…;؛\n])\s*")
_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Drop characters Telegram cannot carry (C0 controls, lone surrogates); CR -> LF."""
    return _UNSENDABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _spans(excerpt: Excerpt) -> list[tuple[int, int]]:
    """Highlight spans clipped to the text, sorted, overlaps merged."""
    size = len(excerpt.text)
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(size, e)) for s, e in excerpt.highlights):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _pieces(excerpt: Excerpt) -> list[tuple[str, bool]]:
    """The excerpt as (text, highlighted) pieces."""
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in _spans(excerpt):
        if start > cursor:
            pieces.append((excerpt.text[cursor:start], False))
        pieces.append((excerpt.text[start:end], True))
        cursor = end
    if cursor < len(excerpt.text):
        pieces.append((excerpt.text[cursor:], False))
    return pieces


def _citations(excerpt: Excerpt) -> str:
    return "".join(f"[{number}]" for number in excerpt.citations)


def _cited_sources(answer: Answer, excerpts: list[Excerpt]) -> list[Source]:
    """The sources the shown excerpts cite (all sources when none is cited)."""
    cited = {number for excerpt in excerpts for number in excerpt.citations}
    chosen = [source for source in answer.sources if source.number in cited]
    return sorted(chosen or answer.sources, key=lambda source: source.number)


def excerpt_dates(answer: Answer, excerpt: Excerpt) -> list[DateNote]:
    """The relative dates of ``excerpt`` resolved against its article's publication date."""
    published = next((source.date for source in answer.sources if source.doc_id == excerpt.doc_id and source.date), None)
    return resolve(excerpt.text, published) if published else []


DATE_NOTE_MARK = "↳ "  # starts the line under an excerpt that dates its relative days


def _date_note(notes: list[DateNote]) -> str:
    """"↳ اليوم الثلاثاء (6 مارس 2018)؛ أمس (5 مارس 2018)": one entry per distinct phrase."""
    labels = list(dict.fromkeys(" ".join(note.label.split()) for note in notes))
    return DATE_NOTE_MARK + "؛ ".join(labels) if labels else ""


def date_label(value: str | None) -> str:
    """A source's date as shown to users ("6 مارس 2018"); as stored when it is not a date."""
    day = parse_date(value) if value else None
    return format_date_ar(day) if day else (value or "")


def answer_data(answer: Answer) -> dict:
    """The JSON form for scripts: the Answer's fields, ``answer_text``, and per excerpt its
    resolved relative dates (``dates``: start, end, phrase, date, label)."""
    data = answer.model_dump(mode="json")
    data["answer_text"] = answer.text
    for key in ("excerpts", "more"):
        for item, excerpt in zip(data[key], getattr(answer, key)):
            item["dates"] = [{"start": n.start, "end": n.end, "phrase": n.phrase, "date": n.date, "label": n.label}
                             for n in excerpt_dates(answer, excerpt)]
    return data


# ---------------------------------------------------------------- terminal


def render_terminal(answer: Answer, color: bool = False) -> str:
    """Excerpts with citations and highlighted terms (under the notice when unsure), then the
    sources; or the abstention message and the (clearly labelled) nearest articles."""
    if not answer.excerpts:
        return _render_terminal_message(answer, color)
    # a message above excerpts is the "may not answer" notice of an unsure answer (Answer.unsure)
    lines = [f"{_ANSI_BOLD}{answer.message}{_ANSI_RESET}" if color else answer.message, ""] if answer.message else []
    for excerpt in answer.excerpts:
        body = "".join(_terminal_piece(text, marked, color) for text, marked in _pieces(excerpt))
        citations = _citations(excerpt)
        if color and citations:
            citations = f"{_ANSI_DIM}{citations}{_ANSI_RESET}"
        lines.append(f"{body} {citations}".rstrip())
        if note := _date_note(excerpt_dates(answer, excerpt)):
            lines.append(f"{_ANSI_DIM}{note}{_ANSI_RESET}" if color else note)
        lines.append("")
    heading = f"{_ANSI_BOLD}{SOURCES_HEADING}{_ANSI_RESET}" if color else SOURCES_HEADING
    lines.append(heading)
    for source in _cited_sources(answer, answer.excerpts):
        date = f" ({date_label(source.date)})" if source.date else ""
        line = f"[{source.number}] {source.title}{date} — {source.source}"
        if source.url:
            line += f" ({source.url})"
        lines.append(line)
    return "\n".join(lines)


def _terminal_piece(text: str, marked: bool, color: bool) -> str:
    if not marked:
        return text
    return f"{_ANSI_HIGHLIGHT}{text}{_ANSI_RESET}" if color else f"«{text}»"


def _render_terminal_message(answer: Answer, color: bool) -> str:
    lines = [answer.message or NO_ANSWER]
    if answer.suggestions:
        heading = SUGGESTIONS_HEADING
        lines += ["", f"{_ANSI_BOLD}{heading}{_ANSI_RESET}" if color else heading]
        for info in answer.suggestions:
            lines.append(f"- {info.title}" + (f" ({info.url})" if info.url else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------- telegram


@dataclass(frozen=True)
class Run:
    """A stretch of text with one style: plain, bold, or a link."""

    text: str
    bold: bool = False
    href: str | None = None

    def opening(self) -> str:
        if self.href:
            return f'<a href="{html.escape(self.href, quote=True)}">'
        return "<b>" if self.bold else ""

    def closing(self) -> str:
        if self.href:
            return "</a>"
        return "</b>" if self.bold else ""

    def same_style(self, other: Run) -> bool:
        return self.bold == other.bold and self.href == other.href


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


def render_telegram(answer: Answer) -> list[str]:
    """Telegram HTML messages (parse_mode HTML), each at most 4096 UTF-16 units; never none."""
    return pack_messages(telegram_blocks(answer)) or [html.escape(NO_ANSWER)]


def render_telegram_text(text: str, *, bold_first_line: bool = False) -> list[str]:
    """Plain text (help, errors, lists) as escaped Telegram HTML messages."""
    blocks = [Block((Run(clean_text(line)),)) for line in text.split("\n")]
    if bold_first_line and blocks:
        blocks[0] = Block((Run(blocks[0].runs[0].text, bold=True),))
    return pack_messages(blocks)


def telegram_blocks(answer: Answer) -> list[Block]:
    """The answer as styled blocks, before splitting into messages."""
    if not answer.excerpts:
        return _message_blocks(answer)
    blocks = [Block((Run(clean_text(answer.message)),))] if answer.message else []  # the unsure notice
    for excerpt in answer.excerpts:
        runs = [Run(clean_text(text), bold=marked) for text, marked in _pieces(excerpt)]
        citations = _citations(excerpt)
        if citations:
            runs.append(Run(" " + citations))
        blocks.append(Block(tuple(runs), gap="\n\n"))
        if note := _date_note(excerpt_dates(answer, excerpt)):
            blocks.append(Block((Run(clean_text(note)),)))
    blocks.append(Block((Run(SOURCES_HEADING, bold=True),), gap="\n\n"))
    for source in _cited_sources(answer, answer.excerpts):
        blocks.append(Block(_source_runs(source)))
    return blocks


def _source_runs(source: Source) -> tuple[Run, ...]:
    title = clean_text(source.title) or clean_text(source.source)
    date = f" ({clean_text(date_label(source.date))})" if source.date else ""
    if is_web_url(source.url):
        return (Run(f"[{source.number}] "), Run(title, href=source.url), Run(date))
    return (Run(f"[{source.number}] {title}{date} — {clean_text(source.source)}"),)


def _suggestion_runs(info: DocumentInfo) -> tuple[Run, ...]:
    title = clean_text(info.title) or clean_text(info.source)
    if is_web_url(info.url):
        return (Run("• "), Run(title, href=info.url))
    return (Run(f"• {title}"),)


def _message_blocks(answer: Answer) -> list[Block]:
    blocks = [Block((Run(clean_text(answer.message or NO_ANSWER)),))]
    if answer.suggestions:
        blocks.append(Block((Run(SUGGESTIONS_HEADING, bold=True),), gap="\n\n"))
        blocks += [Block(_suggestion_runs(info)) for info in answer.suggestions]
    return blocks


# ---------------------------------------------------------------- buttons

MORE_PREFIX = "more:"


def answer_markup(vote_key: str | None, more_key: str | None) -> InlineKeyboardMarkup | None:
    """The buttons under an answer: "useful / not useful" (on ``vote_key``), then "more"."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    rows = []
    if vote_key:
        rows.append([InlineKeyboardButton(VOTE_USEFUL_BUTTON, callback_data=vote_data("u", vote_key)),
                     InlineKeyboardButton(VOTE_NOT_USEFUL_BUTTON, callback_data=vote_data("n", vote_key))])
    if more_key:
        rows.append([InlineKeyboardButton(MORE_BUTTON, callback_data=MORE_PREFIX + more_key)])
    return InlineKeyboardMarkup(rows) if rows else None


def without_more(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """``markup`` less its "more" button (a used or stale one); the vote buttons stay."""
    from telegram import InlineKeyboardMarkup

    if markup is None:
        return None
    rows = [[b for b in row if not (b.callback_data or "").startswith(MORE_PREFIX)] for row in markup.inline_keyboard]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


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
                segments[-1].append(Run(run.text[start:offset], run.bold, run.href))
            if segments[-1]:
                segments.append([])
            start = max(start, offset)
            cursor += 1
        if start < len(run.text):
            segments[-1].append(Run(run.text[start:], run.bold, run.href))
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
    runs[0] = Run(first.text.lstrip(), first.bold, first.href)
    last = runs[-1]
    runs[-1] = Run(last.text.rstrip(), last.bold, last.href)
    return runs
