"""Tables derived from one index's BM25 vocabulary (the English names' bridge, the spelling table), owned by
the loaded index (``Index.lexicon``): each is built once, even when several threads ask at once, and lives
exactly as long as its index."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrieval.understand.names import NameBridge
    from retrieval.understand.spelling import Speller


class Lexicon:
    """``names`` and ``speller`` of one index, built on first use (or by ``prepare`` in the background)."""

    def __init__(self, vocabulary: Callable[[], Mapping[str, int]]) -> None:
        self._vocabulary = vocabulary  # term -> chunks holding it (Index.backend.term_frequencies)
        self._lock = threading.Lock()
        self._names: NameBridge | None = None
        self._speller: Speller | None = None

    @property
    def names(self) -> NameBridge:
        """The English names' bridge (understand/names.py; 3.7 s on the whole archive)."""
        if self._names is None:
            with self._lock:
                if self._names is None:
                    from retrieval.understand.names import NameBridge

                    self._names = NameBridge(self._vocabulary())
        return self._names

    @property
    def speller(self) -> Speller:
        """The spelling table (understand/spelling.py)."""
        if self._speller is None:
            with self._lock:
                if self._speller is None:
                    from retrieval.understand.spelling import Speller

                    self._speller = Speller(self._vocabulary())
        return self._speller

    @property
    def built(self) -> tuple[bool, bool]:
        """(names built, speller built): whether a question will wait for a table."""
        return self._names is not None, self._speller is not None

    def prepare(self) -> None:
        """Build both tables now (front ends call this off the question path)."""
        _ = self.names, self.speller
