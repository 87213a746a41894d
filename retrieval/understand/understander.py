"""Understand: the question text and the conversation -> a Query. The only code that reads the question string.

Each step is named and has its switch (Steps): small talk (and the question check), dialect (a greeting that opens
the question dropped, spoken Arabic's words in standard ones), spelling, follow-up, time, names; then the question
type and the words the composer reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from retrieval.models import Conversation
from retrieval.text.arabic import QUESTION_WORDS, STOPWORDS, tokenize
from retrieval.understand.checks import check_question
from retrieval.understand.dialect import to_standard
from retrieval.understand.followup import resolve
from retrieval.understand.language import latin_share, question_language
from retrieval.understand.lexicon import Lexicon
from retrieval.understand.names import latin_names
from retrieval.understand.qtype import answer_type, asked_words, query_stems, question_type
from retrieval.understand.query import DateBias, Query, QueryKind
from retrieval.understand.smalltalk import without_greeting
from retrieval.understand.timeframe import TimeFrame, parse_question


@dataclass(frozen=True)
class Steps:
    """The switches of the Understand steps (all on: what users get). ``strip_time``: search with the question's
    time phrase taken out ("ماذا حدث لصلاح في مارس 2018" -> "ماذا حدث لصلاح"): the period is the date signal's
    business; left in, the month's name pulls in articles that mention the month (bench/eval_dated.py)."""

    small_talk: bool = True
    dialect: bool = True
    spelling: bool = True
    follow_up: bool = True
    time: bool = True
    strip_time: bool = True
    names: bool = True


class Understander:
    """Reads questions against one index: its lexicon (spelling, names) and its calendar (the newest article's
    date, whether a period has articles). Thread-safe (read-only state)."""

    def __init__(self, lexicon: Lexicon, newest_day: Callable[[], date | None], has_articles_in: Callable[[TimeFrame], bool],
                 max_chars: int, steps: Steps | None = None) -> None:
        self.lexicon = lexicon
        self.newest_day = newest_day
        self.has_articles_in = has_articles_in
        self.max_chars = max_chars
        self.steps = steps or Steps()

    def __call__(self, text: str | None, conversation: Conversation | None = None, *, within: TimeFrame | None = None,
                 dates: bool = True) -> Query:
        """The Query of ``text`` (the conversation's earlier turns resolve a follow-up; ``within``: the
        conversation's :since/:until; ``dates=False`` ignores time named in the question)."""
        text = (text or "").strip()
        language = question_language(text)
        refused = self.refusal(text)
        if refused is not None:
            return refused
        standard = self.standard(text)
        corrected: tuple[tuple[str, str], ...] = ()
        if self.steps.spelling:
            standard, pairs = self.lexicon.speller.corrected(standard)
            corrected = tuple(pairs)
        resolved, prefer = resolve(standard, conversation) if self.steps.follow_up else (standard, [])
        bias, searched = self.time(resolved, within, dates and self.steps.time)
        tokens = tokenize(searched)
        focus = standard or text
        return Query(
            text=text, language=language, standard=standard, corrected=corrected, resolved=resolved,
            prefer=tuple(prefer), dates=bias, searched=searched, names=self.names(searched),
            question_type=question_type(focus), answer_type=answer_type(focus),
            stems=frozenset(query_stems(searched)), words=frozenset(t for t in tokens if t not in STOPWORDS),
            latin_share=latin_share(tokens), asks=any(t in QUESTION_WORDS for t in tokens),
            content_words=sum(t not in STOPWORDS for t in tokens), asked=asked_words(resolved or text),
        )

    # ------------------------------------------------------------ the steps, in order

    def refusal(self, text: str) -> Query | None:
        """small talk and the question check: the Query of a text that is not searched (None: a question)."""
        refusal = check_question(text, self.max_chars, small_talk=self.steps.small_talk)
        if refusal is None:
            return None
        kind = QueryKind.SMALL_TALK if refusal.reason == "small_talk" else QueryKind.REFUSED
        return Query(text=text, language=question_language(text), kind=kind, refusal=refusal.reason,
                     message_id=refusal.message_id, message_params=refusal.params, standard=text, resolved=text, searched=text)

    def standard(self, text: str) -> str:
        """dialect: a greeting that opens the question dropped, spoken Arabic's question words in standard ones
        ("مرحبا، مين قابل رشاد؟" -> "من قابل رشاد؟"); the answer keeps the user's own words as its question."""
        return to_standard(without_greeting(text)) if self.steps.dialect else text

    def time(self, resolved: str, within: TimeFrame | None = None, dates: bool = True) -> tuple[DateBias | None, str]:
        """time: (what time asks of the search, the text to search with) for a resolved question: the period and
        the wish for the newest it names, and the conversation's ``within``."""
        newest = self.newest_day()
        told = parse_question(resolved, newest) if dates else None
        if not told and within is None:
            return None, resolved
        searched = resolved
        # the phrase goes only where the dates can do its work: an index without dates (XQuAD's Wikipedia
        # paragraphs) or a period without articles keeps "في عام 1990" among the words
        dated = told and newest is not None and (told.frame is None or self.has_articles_in(told.frame))
        if dated and self.steps.strip_time and check_question(told.stripped, self.max_chars) is None \
                and any(ch.isalpha() for ch in told.stripped):
            searched = told.stripped
        return DateBias(period=told.frame if told else None, within=within, recent=bool(told and told.recent)), searched

    def names(self, searched: str) -> dict[str, list[str]]:
        """names: the Latin names of ``searched`` that the index spells -> their BM25 terms (understand/names.py)."""
        if not self.steps.names or not latin_names(searched):
            return {}
        return self.lexicon.names.spellings(searched)

    def with_steps(self, **switches: bool) -> Understander:
        """A copy with some steps switched (experiments, tests)."""
        return Understander(self.lexicon, self.newest_day, self.has_articles_in, self.max_chars,
                            replace(self.steps, **switches))


def plain_query(text: str, lexicon: Lexicon, *, prefer: list[str] | None = None, dates: DateBias | None = None) -> Query:
    """``text`` searched as it is (no other step than the names'): the retriever's and the scripts' bare text."""
    names = lexicon.names.spellings(text) if latin_names(text) else {}
    return Query(text=text, language=question_language(text), standard=text, resolved=text, searched=text,
                 names=names, prefer=tuple(prefer or ()), dates=dates or None)
