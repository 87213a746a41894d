"""The search-backend seam: what the retriever asks of a search engine, and a registry of engines.

A backend holds the searchable form of an index's chunks: their vectors (dense search) and
their analysed terms (sparse BM25 search). Chunk ids are the rows of the index's chunk table
(0 .. count - 1). Fusion, the sentence signal and the composer stay above this interface and
never import an engine."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retrieval.errors import UnknownBackend

if TYPE_CHECKING:  # the index package imports this module: no import back at run time
    from retrieval.index.manifest import Params
    from retrieval.settings import Settings

# name -> "module:Class"; a module is imported only when chosen, so an engine's client
# library is never imported by an index that does not use it
_REGISTRY: dict[str, str] = {
    "local": "retrieval.backends.local:LocalBackend",
    "milvus": "retrieval.backends.milvus:MilvusBackend",  # needs the `milvus` extra (pymilvus, milvus-lite)
}


@dataclass(frozen=True)
class Hits:
    """Chunk ids and their scores, best first (ties: lower id first)."""

    ids: np.ndarray  # int64
    scores: np.ndarray  # float32

    @classmethod
    def empty(cls) -> Hits:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.ids)


class SearchBackend(ABC):
    """Dense and sparse top-k over an index's chunks. Read-only once loaded, so thread-safe.

    Build side: ``index_terms`` and ``index_vectors`` replace the whole content (a rebuild),
    ``save`` writes it into an index folder; ``load`` reads it back."""

    name = ""

    def __init__(self, params: Params) -> None:
        self.params = params

    # --- build ----------------------------------------------------------------------------

    @abstractmethod
    def index_terms(self, corpus_terms: list[list[str]]) -> None:
        """Make chunk i searchable by BM25 over ``corpus_terms[i]`` (replaces earlier content)."""

    @abstractmethod
    def index_vectors(self, vectors: np.ndarray) -> None:
        """Make chunk i searchable by inner product with ``vectors[i]`` (replaces earlier content)."""

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the content into the index folder ``folder``."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path, params: Params, vectors: np.ndarray) -> SearchBackend:
        """The backend saved in ``folder``; ``vectors`` are the index's chunk vectors (memory-mapped)."""

    # An engine outside the index folder (a server) needs the settings (its address) to build and
    # to load, and has work to do once the folder is swapped in; files-only backends need neither.

    @classmethod
    def for_build(cls, params: Params, settings: Settings | None) -> SearchBackend:
        """An empty backend to build into."""
        return cls(params)

    @classmethod
    def open(cls, folder: Path, params: Params, vectors: np.ndarray, settings: Settings | None) -> SearchBackend:
        """``load`` with the settings of the program loading it."""
        return cls.load(folder, params, vectors)

    def publish(self) -> None:  # noqa: B027 (optional: most backends have nothing to do)
        """Called once the index folder written by ``save`` is in place (switch, tidy up)."""

    def sentence_vectors(self) -> object | None:
        """Row-indexable sentence vectors the engine serves (``v[rows]``), or None: the index's own file."""
        return None

    # --- search ---------------------------------------------------------------------------

    @abstractmethod
    def dense_top_k(self, vector: np.ndarray, k: int) -> Hits:
        """The ``k`` chunks of highest inner product with ``vector`` (fewer when there are fewer)."""

    @abstractmethod
    def sparse_top_k(self, terms: list[str], k: int) -> Hits:
        """The ``k`` chunks of highest BM25 score for ``terms``; only chunks scoring above zero
        (no known term: no hit)."""

    @abstractmethod
    def sparse_scores(self, terms: list[str], ids: np.ndarray) -> np.ndarray:
        """float32 BM25 score of each chunk in ``ids`` for ``terms`` (0 for a chunk without them)."""

    @abstractmethod
    def idf(self, terms: list[str]) -> np.ndarray:
        """Lucene idf of each term over the chunks (0 for an unknown term)."""

    @abstractmethod
    def term_frequencies(self) -> Mapping[str, int]:
        """Every BM25 term -> the number of chunks holding it (the vocabulary retrieval/understand/names.py reads)."""

    @abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The float32 vectors of the chunks ``ids``, one row each."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Chunks held by each part, by a name shown in errors (all equal the index's chunk count)."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Dimension of the dense vectors."""


def available() -> list[str]:
    """Names of the registered search backends."""
    return sorted(_REGISTRY)


def backend_class(name: str) -> type[SearchBackend]:
    """The search backend registered as ``name``."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UnknownBackend(f"Unknown search backend {name!r}; choose one of: {', '.join(available())}.") from None
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # an engine's client is an optional extra
        raise UnknownBackend(f"Search backend {name!r} needs a package that is not installed ({exc.name}); "
                             f"install it with `pip install '.[{name}]'`.") from None
    return getattr(module, class_name)


def create(params: Params, settings: Settings | None = None) -> SearchBackend:
    """An empty backend of the kind ``params.search_backend`` names, to build into."""
    return backend_class(params.search_backend).for_build(params, settings)
