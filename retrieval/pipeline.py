"""The one object front ends call: answer(question, conversation) -> Answer."""

from __future__ import annotations

import time

from retrieval.answer import Composer, ComposerConfig
from retrieval.conversation import make_turn, resolve
from retrieval.embedders import Embedder
from retrieval.embedders import from_settings as embedder_from_settings
from retrieval.index import Index
from retrieval.models import Answer, Conversation, DocumentInfo
from retrieval.question import Refusal, check_mode, check_question
from retrieval.retriever import Retriever
from retrieval.settings import Settings


class Pipeline:
    """Loaded index + retriever + composer. Thread-safe for concurrent ``answer`` calls
    (the embedder serialises its own calls; everything else is read-only)."""

    def __init__(self, settings: Settings, index: Index, embedder: Embedder) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
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
        return cls(settings, index, embedder)

    def answer(self, question: str, conversation: Conversation | None = None, *,
               k: int | None = None, mode: str | None = None) -> Answer:
        """Answer one question. When ``conversation`` is given, follow-ups are resolved
        against its turns and the new turn is appended to it."""
        started = time.perf_counter()
        k = k or self.settings.top_k
        mode = check_mode(mode or self.settings.mode)
        question = (question or "").strip()
        if refusal := self.check(question):
            return Answer(question=question, resolved_question=question, abstained=True, message=refusal.message,
                          refused=refusal.reason, mode=mode, k=k)
        resolved, prefer = resolve(question, conversation)
        timings: dict[str, float] = {}
        query_vector = None
        if mode != "bm25" or self.index.sentence_vectors is not None:
            t0 = time.perf_counter()
            query_vector = self.embedder.embed_query(resolved)
            timings["embed_query_ms"] = (time.perf_counter() - t0) * 1000
        passages = self.retriever.search(resolved, k=k, mode=mode, query_vector=query_vector, timings=timings,
                                         prefer=prefer)
        t0 = time.perf_counter()
        answer = self.composer.compose(question, resolved, passages, query_vector, focus_question=question)
        timings["compose_ms"] = (time.perf_counter() - t0) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        answer.timings_ms = {key: round(value, 3) for key, value in timings.items()}
        answer.mode, answer.k = mode, k
        if conversation is not None:
            cited = [s.doc_id for s in answer.sources]
            conversation.add(make_turn(question, resolved, cited, answer.text))
        return answer

    def check(self, question: str) -> Refusal | None:
        """The refusal ``answer`` would give ``question`` (empty, too long, no words), or None.
        Front ends that act before answering (the bot's rate limit) ask this first."""
        return check_question(question, self.settings.max_question_chars)

    def documents(self) -> list[DocumentInfo]:
        """The articles in the index (for /sources)."""
        return list(self.index.documents)
