"""Lookup tables built from an index's BM25 vocabulary (the English names' bridge, the spelling table): each is
built once per index, even when several threads ask at once, and kept while the index lives."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from retrieval.index import Index

T = TypeVar("T")


class PerIndex(Generic[T]):
    """``build(vocabulary)`` of an index (term -> chunks holding it), once per index, weakly keyed."""

    def __init__(self, build: Callable[[Mapping[str, int]], T]) -> None:
        self._build = build
        self._tables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, index: Index) -> T:
        """The table of ``index``, built now if it is not yet."""
        table = self._tables.get(index)
        if table is None:
            with self._lock:
                table = self._tables.get(index)
                if table is None:
                    table = self._tables[index] = self._build(index.backend.term_frequencies())
        return table

    def __contains__(self, index: object) -> bool:
        return index in self._tables
