"""Expected errors, each with a message that says how to fix it."""


class RetrievalError(Exception):
    """Base class: an expected failure whose message is shown to the user as is."""


class IndexNotFound(RetrievalError):
    """No index at the configured directory."""


class IndexCorrupt(RetrievalError):
    """The index directory exists but a file is missing, truncated or unreadable."""


class IndexMismatch(RetrievalError):
    """The index was built with other settings (embedder, analyzer, schema) than asked for."""


class UnknownBackend(RetrievalError):
    """A backend name (embedder, fusion, BM25) that is not registered."""


class EmbedderUnavailable(RetrievalError):
    """The embedder cannot be loaded (missing optional package or model)."""


class CorpusEmpty(RetrievalError):
    """The corpus holds no readable document."""


class IndexBusy(RetrievalError):
    """Another build of the same index holds its lock longer than BUILD_LOCK_WAIT_SECONDS."""
