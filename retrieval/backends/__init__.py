"""Search backends behind one interface (dense + sparse top-k); see base.py for the registry."""

from retrieval.backends.base import Hits, SearchBackend, available, backend_class, create

__all__ = ["Hits", "SearchBackend", "available", "backend_class", "create"]
