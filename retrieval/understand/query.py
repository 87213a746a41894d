"""The typed hand-off of the Understand stage: what a question asks, read once (Query), and what time asks
of the search (DateBias)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from retrieval.models import RefusalReason
from retrieval.understand.qtype import AskedWords
from retrieval.understand.timeframe import TimeFrame


class QueryKind(str, Enum):
    """What the text is: a question to search, small talk answered in kind, or refused (empty, too long, no words)."""

    QUESTION = "question"
    SMALL_TALK = "small_talk"
    REFUSED = "refused"


@dataclass(frozen=True)
class DateBias:
    """What time asks of one search: ``within`` keeps only articles of that period (the
    conversation's :since/:until), ``period`` favours those of the question's period, ``recent``
    favours the newest. Articles without a date are outside every period."""

    period: TimeFrame | None = None
    within: TimeFrame | None = None
    recent: bool = False

    def __bool__(self) -> bool:
        return self.period is not None or self.within is not None or self.recent


@dataclass(frozen=True)
class Query:
    """One question as Understand read it. Search and Answer read this, never the question string.

    ``text``: as typed (trimmed); ``language``: "ar" or "en", decided once (understand/language.py);
    ``standard``: after the greeting, dialect and spelling steps (the user's question in the words of the news);
    ``resolved``: after follow-up resolution; ``searched``: what the search and the composer read (the resolved
    question, its time phrase taken out when the dates can do its work)."""

    text: str
    language: str = "ar"
    kind: QueryKind = QueryKind.QUESTION
    refusal: RefusalReason | None = None
    # the message a refused or small-talk text is answered with: an id of the catalogs (retrieval/answer/catalog)
    message_id: str | None = None
    message_params: Mapping[str, Any] = field(default_factory=dict)
    standard: str = ""
    corrected: tuple[tuple[str, str], ...] = ()
    resolved: str = ""
    prefer: tuple[str, ...] = ()  # doc ids cited by the conversation's last answer (a follow-up)
    dates: DateBias | None = None
    searched: str = ""
    # each Latin name of ``searched`` that the index spells -> its BM25 terms (understand/names.py)
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    question_type: str = "other"  # number | time | place | person | other (understand/qtype.py)
    answer_type: str = "other"  # question_type refined ("في أي عام" -> time): the answer phrase sought
    # read from ``searched`` for the composer: content stems, content words, share of Latin-script words,
    # whether it holds a question word, how many words are not stopwords
    stems: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    latin_share: float = 0.0
    asks: bool = False
    content_words: int = 0
    # read from ``resolved`` for the answer phrase (answer/spans.py): its words, its content words' keys, its event
    asked: AskedWords = AskedWords()

    def __post_init__(self) -> None:
        object.__setattr__(self, "message_params", MappingProxyType(dict(self.message_params)))
        object.__setattr__(self, "names", MappingProxyType({k: tuple(v) for k, v in self.names.items()}))

    @property
    def searchable(self) -> bool:
        return self.kind is QueryKind.QUESTION

    @property
    def name_terms(self) -> list[str]:
        """All the BM25 terms of ``names``, in order."""
        return [term for terms in self.names.values() for term in terms]
