"""The one object front ends call: answer(question, conversation) -> Answer."""

from __future__ import annotations

from retrieval.models import Answer, Conversation, DocumentInfo
from retrieval.settings import Settings


class Pipeline:
    """Loaded index + retriever + composer. Thread-safe for concurrent ``answer`` calls."""

    @classmethod
    def load(cls, settings: Settings | None = None) -> "Pipeline":
        """Load the index named by ``settings.index_dir``; raises a RetrievalError subclass
        (IndexNotFound, IndexCorrupt, IndexMismatch) with a how-to-fix message."""
        raise NotImplementedError

    def answer(self, question: str, conversation: Conversation | None = None, *,
               k: int | None = None, mode: str | None = None) -> Answer:
        """Answer one question. When ``conversation`` is given, follow-ups are resolved
        against its turns and the new turn is appended to it."""
        raise NotImplementedError

    def documents(self) -> list[DocumentInfo]:
        """The articles in the index (for /sources)."""
        raise NotImplementedError
