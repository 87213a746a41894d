"""Typed values that flow through the pipeline: Document -> Chunk -> Passage -> Answer."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

RefusalReason = Literal["empty", "too_long", "no_words", "small_talk"]  # why a question was not searched


class Decision(str, Enum):
    """What was done with a question (retrieval/answer/decide.py decides; Answer.reason says why)."""

    ANSWERED = "answered"
    UNSURE = "unsure"  # answered, with the notice that the excerpts may not answer it
    ABSTAINED = "abstained"  # no answer: the passages do not support one
    SMALL_TALK = "small_talk"  # a greeting, thanks, a goodbye: answered in kind, never searched
    REFUSED = "refused"  # empty, too long, no words: not searched


class Document(BaseModel):
    """One article as loaded from the corpus."""

    id: str
    title: str
    text: str
    source: str  # path of the file it came from (relative to the corpus root when possible)
    url: str | None = None
    date: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class Chunk(BaseModel):
    """A sentence-aligned slice of a document: ``document.text[start:end] == text``."""

    doc_id: str
    start: int
    end: int
    text: str


class DocumentInfo(BaseModel):
    """What a front end needs to cite an article (no text)."""

    id: str
    title: str
    source: str
    url: str | None = None
    date: str | None = None


class Passage(BaseModel):
    """One retrieved chunk with its scores and where it comes from."""

    chunk_index: int
    doc_id: str
    title: str
    source: str
    url: str | None = None
    date: str | None = None
    start: int
    end: int
    text: str
    score: float  # the fused score used for ranking
    scores: dict[str, float] = Field(default_factory=dict)  # per signal: bm25, dense (raw)
    rank: int  # 1-based rank among the returned passages
    citation: str  # label such as "[1]"


class Excerpt(BaseModel):
    """A verbatim quote from one article: ``document.text[start:end] == text``."""

    text: str
    doc_id: str
    start: int
    end: int
    citations: list[int]  # source numbers (1-based, into Answer.sources)
    highlights: list[tuple[int, int]] = Field(default_factory=list)  # spans inside ``text``
    score: float = 0.0
    # the answer phrase inside ``text`` (shown in bold), set on the lead excerpt only when a span of the
    # kind the question asks for is confidently found (retrieval/answer/spans.py); None otherwise
    answer: tuple[int, int] | None = None


class Source(BaseModel):
    """A numbered source in an answer."""

    number: int
    doc_id: str
    title: str
    source: str
    url: str | None = None
    date: str | None = None


class Answer(BaseModel):
    """Everything a front end renders for one question."""

    question: str
    resolved_question: str  # the question after follow-up resolution (equal when self-contained)
    excerpts: list[Excerpt] = Field(default_factory=list)
    more: list[Excerpt] = Field(default_factory=list)  # held back for "more"
    sources: list[Source] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    highlight_terms: list[str] = Field(default_factory=list)
    # the decision (retrieval/answer/decide.py) and why; ``abstained``, ``unsure`` and ``refused`` follow from it
    decision: Decision | None = None
    reason: str | None = None
    abstained: bool = False
    # answered, but the answerability model is not sure the excerpts answer the question: ``message``
    # says so above them (DecisionConfig.unsure_below; bench/fit_unsure.py measured the band)
    unsure: bool = False
    confidence: float | None = None  # the answerability model's probability (None: not computed)
    # shown instead of excerpts when abstaining or on bad input, above them when unsure: a message id of
    # retrieval/answer/catalog with its parameters, worded in ``language`` when read (``message``)
    message_id: str | None = None
    message_params: dict[str, Any] = Field(default_factory=dict)
    refused: RefusalReason | None = None  # set when the question itself was refused (message says why)
    suggestions: list[DocumentInfo] = Field(default_factory=list)  # nearest titles, not an answer
    # the language the question was asked in ("ar", or "en": messages.question_language): the words around
    # the quotes (message, headings, dates, buttons) are in it; the quotes stay as the articles wrote them
    language: str = "ar"
    # the question's misspelt words as typed, with the words searched instead (retrieval/understand/spelling.py): the
    # front ends say so above the answer, so a wrong guess explains itself
    corrected: list[tuple[str, str]] = Field(default_factory=list)
    mode: str = "hybrid"
    k: int = 5
    timings_ms: dict[str, float] = Field(default_factory=dict)
    # the search's ranked passages to rank 10 (what evaluate.py scores: the very search that made this answer);
    # not stored with the answer
    ranked: list[Passage] = Field(default_factory=list, exclude=True)

    @model_validator(mode="after")
    def _decided(self) -> Answer:
        if self.decision is None:  # built from the flags (front ends' tests, stored answers)
            self.decision = (Decision.SMALL_TALK if self.refused == "small_talk" else Decision.REFUSED if self.refused
                             else Decision.ABSTAINED if self.abstained else Decision.UNSURE if self.unsure else Decision.ANSWERED)
        else:
            self.decide(self.decision, self.reason)
        return self

    def decide(self, decision: Decision, reason: str | None = None) -> None:
        """Set the decision and the flags that follow from it."""
        self.decision, self.reason = decision, reason
        self.abstained = decision in (Decision.ABSTAINED, Decision.REFUSED, Decision.SMALL_TALK)
        self.unsure = decision is Decision.UNSURE
        if decision not in (Decision.REFUSED, Decision.SMALL_TALK):
            self.refused = None
        elif reason is not None:
            self.refused = reason

    @property
    def message(self) -> str | None:
        """The message in the question's language (retrieval/answer/catalog), or None."""
        if self.message_id is None:
            return None
        from retrieval.answer.catalog import word

        return word(self.message_id, self.language, **self.message_params)

    @property
    def text(self) -> str:
        """The plain answer text a user is shown (excerpts, or the message)."""
        if self.excerpts:
            return "\n".join(e.text for e in self.excerpts)
        return self.message or ""

    def next_page(self, size: int) -> Answer | None:
        """The next ``size`` held-back excerpts as an answer of their own (same question,
        sources and highlights; the spelling line is said once, on the first page) whose ``more`` keeps the
        rest; None when nothing is held back. Every front end pages "more" through this one rule."""
        if not self.more:
            return None
        size = max(1, size)
        return self.model_copy(update={"excerpts": self.more[:size], "more": self.more[size:], "corrected": []})


class Turn(BaseModel):
    """One question/answer exchange remembered for follow-ups."""

    question: str
    resolved_question: str
    doc_ids: list[str] = Field(default_factory=list)  # articles cited in the answer
    terms: list[str] = Field(default_factory=list)  # key terms carried to the next question
    answer_text: str = ""


class Conversation(BaseModel):
    """The recent turns of one chat; serialisable for persistence."""

    turns: list[Turn] = Field(default_factory=list)
    max_turns: int = 5

    def add(self, turn: Turn) -> None:
        self.turns.append(turn)
        del self.turns[: -self.max_turns]
