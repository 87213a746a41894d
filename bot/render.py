"""Answer -> terminal text, Telegram HTML messages (escaped, balanced, split at 4096: bot/telegram_html.py)
and the JSON form. The question's words are marked (Excerpt.highlights: Telegram bold, terminal yellow or
«»), and the answer phrase more strongly (Excerpt.answer: Telegram bold and underlined, terminal bold and
underlined or **...**; it wins over a question word inside it). Each source shows its publication date;
a relative date inside an excerpt ("اليوم الثلاثاء") is resolved against its article's date and shown on a
line of its own under the excerpt, never inside the quote (quotes stay verbatim)."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.commands import MORE_PREFIX, more_data
from bot.feedback import vote_data
from bot.telegram_html import TELEGRAM_LIMIT, Block, Run, pack_messages, runs_html, utf16_len
from bot.urls import is_web_url
from retrieval.answer.catalog import corrections_line, word
from retrieval.models import Answer, DocumentInfo, Excerpt, Source
from retrieval.settings import Settings
from retrieval.text.calendar_ar import format_date, parse_date
from retrieval.text.relative_dates import DateNote, resolve

if TYPE_CHECKING:  # the REPL renders too: telegram is imported only where buttons are made
    from telegram import InlineKeyboardMarkup

_ANSI_HIGHLIGHT = "\x1b[1;33m"
_ANSI_DIM = "\x1b[2m"
_ANSI_BOLD = "\x1b[1m"
_ANSI_RESET = "\x1b[0m"
_ANSI_ANSWER = "\x1b[1;4m"  # bold and underlined: apart from the question's words (bold yellow)
ANSWER_MARK = "**"  # around the answer phrase without colour (the question's words get «»)

__all__ = ["ANSWER_MARK", "MAX_REPLY_MESSAGES", "TELEGRAM_LIMIT", "Block", "Run", "answer_data", "clean_text", "pack_messages",
           "pack_reply", "render_telegram", "render_telegram_text", "render_terminal", "runs_html", "shown_title", "utf16_len"]

MAX_REPLY_MESSAGES = 4  # Telegram messages in one reply at most; a longer reply is cut, its last message a notice
# characters of an article's title shown in a reply: MAX_TITLE_CHARS's default, the cut at load (an older index was not cut)
MAX_SHOWN_TITLE = Settings.default("max_title_chars")

# C0 controls other than tab/newline, and lone surrogates: not valid in a Telegram message
_UNSENDABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Drop characters Telegram cannot carry (C0 controls, lone surrogates); CR -> LF."""
    return _UNSENDABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def shown_title(title: str, fallback: str = "") -> str:
    """An article's title as a reply shows it: cleaned, at most MAX_SHOWN_TITLE characters ("…" marks a cut),
    ``fallback`` (its source) when it has none. Holds for an index built before titles were capped at load."""
    text = clean_text(title[: MAX_SHOWN_TITLE + 1]).strip() or clean_text(fallback[: MAX_SHOWN_TITLE + 1]).strip()
    return text if len(text) <= MAX_SHOWN_TITLE else text[: MAX_SHOWN_TITLE - 1].rstrip() + "…"


def pack_reply(blocks: list[Block], language: str = "ar") -> list[str]:
    """Blocks as at most MAX_REPLY_MESSAGES Telegram messages: what would need more is cut, and the last message
    says so (the catalogs' answer.reply_cut). Text beyond what that many messages can hold is dropped before packing, so the work is
    bounded too, whatever the size of the text (a 400,000-character title or excerpt)."""
    budget = MAX_REPLY_MESSAGES * TELEGRAM_LIMIT  # characters: each is at least one UTF-16 unit of a message
    kept: list[Block] = []
    for block in blocks:
        runs: list[Run] = []
        for run in block.runs:
            if budget <= 0:
                break
            runs.append(run if len(run.text) <= budget else replace(run, text=run.text[:budget]))
            budget -= len(run.text)
        if runs:
            kept.append(Block(tuple(runs), block.gap))
        if budget <= 0:
            break
    messages = pack_messages(kept)
    if budget > 0 and len(messages) <= MAX_REPLY_MESSAGES:
        return messages
    return messages[: MAX_REPLY_MESSAGES - 1] + [html.escape(word("answer.reply_cut", language), quote=False)]


PLAIN, WORD, ANSWER = 0, 1, 2  # the styles of an excerpt's pieces: plain, a question's word, the answer phrase


def _pieces(excerpt: Excerpt) -> list[tuple[str, int]]:
    """The excerpt as (text, style) pieces: the answer phrase over the question's words over plain text;
    spans clipped to the text."""
    size = len(excerpt.text)
    style = [PLAIN] * size
    marks = [(span, WORD) for span in excerpt.highlights] + ([(excerpt.answer, ANSWER)] if excerpt.answer else [])
    for (start, end), kind in marks:
        start, end = max(0, start), min(size, end)
        if start < end:
            style[start:end] = [kind] * (end - start)
    pieces: list[tuple[str, int]] = []
    cursor = 0
    for index in range(1, size + 1):
        if index == size or style[index] != style[cursor]:
            pieces.append((excerpt.text[cursor:index], style[cursor]))
            cursor = index
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


def _date_note(notes: list[DateNote], language: str = "ar") -> str:
    """"↳ اليوم الثلاثاء (6 مارس 2018)؛ أمس (5 مارس 2018)": one entry per distinct phrase (the phrase as
    quoted; the date in the answer's language: "↳ اليوم الثلاثاء (6 March 2018); أمس (5 March 2018)")."""
    labels = list(dict.fromkeys(" ".join(f"{n.phrase} ({date_label(n.date, language)})".split()) for n in notes))
    return DATE_NOTE_MARK + ("; " if language == "en" else "؛ ").join(labels) if labels else ""


def date_label(value: str | None, language: str = "ar") -> str:
    """A source's date as shown to users ("6 مارس 2018", "6 March 2018"); as stored when it is not a date."""
    day = parse_date(value) if value else None
    return format_date(day, language) if day else (value or "")


def answer_data(answer: Answer) -> dict:
    """The JSON form for scripts: the Answer's fields, ``answer_text``, and per excerpt its
    resolved relative dates (``dates``: start, end, phrase, date, label)."""
    data = answer.model_dump(mode="json")
    data["message"] = answer.message  # worded here, at the edge, in the question's language
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
    corrected = corrections_line(answer.corrected, answer.language)
    top = [f"{_ANSI_DIM}{corrected}{_ANSI_RESET}" if color else corrected, ""] if corrected else []
    if not answer.excerpts:
        return "\n".join(top + [_render_terminal_message(answer, color)])
    # a message above excerpts is the "may not answer" notice of an unsure answer (Answer.unsure)
    lines = top + ([f"{_ANSI_BOLD}{answer.message}{_ANSI_RESET}" if color else answer.message, ""] if answer.message else [])
    language = answer.language
    for excerpt in answer.excerpts:
        body = "".join(_terminal_piece(text, style, color) for text, style in _pieces(excerpt))
        citations = _citations(excerpt)
        if color and citations:
            citations = f"{_ANSI_DIM}{citations}{_ANSI_RESET}"
        lines.append(f"{body} {citations}".rstrip())
        if note := _date_note(excerpt_dates(answer, excerpt), language):
            lines.append(f"{_ANSI_DIM}{note}{_ANSI_RESET}" if color else note)
        lines.append("")
    heading = word("answer.sources", language)
    lines.append(f"{_ANSI_BOLD}{heading}{_ANSI_RESET}" if color else heading)
    for source in _cited_sources(answer, answer.excerpts):
        date = f" ({date_label(source.date, language)})" if source.date else ""
        line = f"[{source.number}] {source.title}{date} — {source.source}"
        if source.url:
            line += f" ({source.url})"
        lines.append(line)
    return "\n".join(lines)


def _terminal_piece(text: str, style: int, color: bool) -> str:
    if style == ANSWER:
        return f"{_ANSI_ANSWER}{text}{_ANSI_RESET}" if color else f"{ANSWER_MARK}{text}{ANSWER_MARK}"
    if style == WORD:
        return f"{_ANSI_HIGHLIGHT}{text}{_ANSI_RESET}" if color else f"«{text}»"
    return text


def _render_terminal_message(answer: Answer, color: bool) -> str:
    lines = [answer.message or word("answer.none", answer.language)]
    if answer.suggestions:
        heading = word("answer.suggestions", answer.language)
        lines += ["", f"{_ANSI_BOLD}{heading}{_ANSI_RESET}" if color else heading]
        for info in answer.suggestions:
            lines.append(f"- {info.title}" + (f" ({info.url})" if info.url else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------- telegram


def render_telegram(answer: Answer) -> list[str]:
    """Telegram HTML messages (parse_mode HTML), each at most 4096 UTF-16 units, at most MAX_REPLY_MESSAGES
    of them (pack_reply); never none. Slow for huge text: the bot calls it off its event loop."""
    return pack_reply(telegram_blocks(answer), answer.language) or [html.escape(word("answer.none", answer.language))]


def render_telegram_text(text: str, *, bold_first_line: bool = False) -> list[str]:
    """Plain text (help, errors, lists) as escaped Telegram HTML messages, at most MAX_REPLY_MESSAGES."""
    blocks = [Block((Run(clean_text(line)),)) for line in text.split("\n")]
    if bold_first_line and blocks:
        blocks[0] = Block((Run(blocks[0].runs[0].text, bold=True),))
    return pack_reply(blocks)


def telegram_blocks(answer: Answer) -> list[Block]:
    """The answer as styled blocks, before splitting into messages."""
    corrected = corrections_line(answer.corrected, answer.language)
    top = [Block((Run(clean_text(corrected)),))] if corrected else []  # what was searched instead of a typo
    if not answer.excerpts:
        return top + _message_blocks(answer)
    blocks = top + ([Block((Run(clean_text(answer.message)),))] if answer.message else [])  # the unsure notice
    for excerpt in answer.excerpts:
        runs = [Run(clean_text(text), bold=style != PLAIN, underline=style == ANSWER) for text, style in _pieces(excerpt)]
        citations = _citations(excerpt)
        if citations:
            runs.append(Run(" " + citations))
        blocks.append(Block(tuple(runs), gap="\n\n"))
        if note := _date_note(excerpt_dates(answer, excerpt), answer.language):
            blocks.append(Block((Run(clean_text(note)),)))
    blocks.append(Block((Run(word("answer.sources", answer.language), bold=True),), gap="\n\n"))
    for source in _cited_sources(answer, answer.excerpts):
        blocks.append(Block(_source_runs(source, answer.language)))
    return blocks


def _source_runs(source: Source, language: str = "ar") -> tuple[Run, ...]:
    title = shown_title(source.title, source.source)
    date = f" ({clean_text(date_label(source.date, language))})" if source.date else ""
    if is_web_url(source.url):
        return (Run(f"[{source.number}] "), Run(title, href=source.url), Run(date))
    return (Run(f"[{source.number}] {title}{date} — {shown_title(source.source)}"),)


def _suggestion_runs(info: DocumentInfo) -> tuple[Run, ...]:
    title = shown_title(info.title, info.source)
    if is_web_url(info.url):
        return (Run("• "), Run(title, href=info.url))
    return (Run(f"• {title}"),)


def _message_blocks(answer: Answer) -> list[Block]:
    blocks = [Block((Run(clean_text(answer.message or word("answer.none", answer.language))),))]
    if answer.suggestions:
        blocks.append(Block((Run(word("answer.suggestions", answer.language), bold=True),), gap="\n\n"))
        blocks += [Block(_suggestion_runs(info)) for info in answer.suggestions]
    return blocks


# ---------------------------------------------------------------- buttons

def answer_markup(vote_key: str | None, more_key: str | None, language: str = "ar") -> InlineKeyboardMarkup | None:
    """The buttons under an answer (labelled in its ``language``): "useful / not useful" (on ``vote_key``),
    then "more"."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    rows = []
    if vote_key:
        rows.append([InlineKeyboardButton(word("button.useful", language), callback_data=vote_data("u", vote_key)),
                     InlineKeyboardButton(word("button.not_useful", language), callback_data=vote_data("n", vote_key))])
    if more_key:
        rows.append([InlineKeyboardButton(word("button.more", language), callback_data=more_data(more_key))])
    return InlineKeyboardMarkup(rows) if rows else None


def without_more(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """``markup`` less its "more" button (a used or stale one); the vote buttons stay."""
    from telegram import InlineKeyboardMarkup

    if markup is None:
        return None
    rows = [[b for b in row if not (b.callback_data or "").startswith(MORE_PREFIX)] for row in markup.inline_keyboard]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None
