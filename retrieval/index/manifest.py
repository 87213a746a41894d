"""The index manifest: a typed model of manifest.json, how it is read, and the compatibility check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from retrieval.embedders import Embedder
from retrieval.errors import IndexCorrupt, IndexMismatch, IndexNotFound
from retrieval.index.embedder_record import REBUILD_HINT, check_embedder, embedder_record
from retrieval.index.layout import MANIFEST
from retrieval.index.store import read_json
from retrieval.settings import Settings
from retrieval.text.arabic import ANALYZER_VERSION

SCHEMA_VERSION = 1
DEFAULT_SEARCH_BACKEND = "local"


class _Record(BaseModel):
    # Transitional: code written for the untyped manifest reads it as ``manifest["counts"]``;
    # new code reads attributes (``manifest.counts.chunks``).
    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)


class Chunking(_Record):
    size: int
    overlap: int


class Params(_Record):
    """Everything that changes the index's content besides the corpus: a build with other
    params rebuilds, a load with another schema, analyzer or embedder is refused."""

    schema_version: int
    analyzer: str
    # what produced the vectors; its shape belongs to retrieval/index/embedder_record.py
    embedder: dict[str, Any] = Field(default_factory=dict)
    chunking: Chunking
    faiss_factory: str = "Flat"
    bm25_backend: str = "bm25s"
    sentence_vectors: bool = False
    search_backend: str = DEFAULT_SEARCH_BACKEND


class CorpusInfo(_Record):
    path: str
    fingerprint: str  # over every document's fingerprint: an unchanged corpus is not rebuilt
    skipped: int = 0


class Counts(_Record):
    documents: int
    chunks: int
    sentences: int
    characters: int = 0  # of all chunk texts


class Manifest(_Record):
    """manifest.json."""

    params: Params
    built_with: str = ""
    created_at: str = ""
    build_seconds: float = 0.0
    corpus: CorpusInfo
    counts: Counts
    files: dict[str, str] = Field(default_factory=dict)  # relative path -> SHA-256, every file but the manifest


def build_params(settings: Settings, embedder: Embedder) -> Params:
    """The params a build with these settings and this embedder records."""
    return Params(
        schema_version=SCHEMA_VERSION,
        analyzer=ANALYZER_VERSION,
        embedder=embedder_record(embedder),
        chunking=Chunking(size=settings.index.chunk_size, overlap=settings.index.chunk_overlap),
        faiss_factory=settings.index.faiss_factory,
        bm25_backend=settings.backends.bm25_backend,
        sentence_vectors=settings.index.sentence_vectors,
        search_backend=settings.backends.search_backend,
    )


def read_manifest(index_dir: Path) -> Manifest:
    """The manifest of ``index_dir``, or IndexNotFound / IndexCorrupt / IndexMismatch with the fix."""
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexNotFound(f"No index at {index_dir}; build it with `python index_build.py` (or set INDEX_DIR).")
    try:
        raw = read_json(path)
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"Index manifest {path} is unreadable ({exc}); {REBUILD_HINT}.") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("params"), dict):
        raise IndexCorrupt(f"{path} is not an index manifest; {REBUILD_HINT}.")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        version = raw["params"].get("schema_version")
        if version != SCHEMA_VERSION:  # another schema may well have another shape: say so, not "damaged"
            raise _schema_mismatch(version, index_dir) from None
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])
        raise IndexCorrupt(f"{path} is not a valid index manifest ({where}: {exc.errors()[0]['msg']}); {REBUILD_HINT}.") from None


def read_manifest_quietly(index_dir: Path) -> Manifest | None:
    """The manifest, or None when there is none or it cannot be used (a build then starts afresh)."""
    try:
        return read_manifest(index_dir)
    except (IndexNotFound, IndexCorrupt, IndexMismatch):
        return None


def check_compatible(manifest: Manifest, settings: Settings, index_dir: Path) -> None:
    """Refuse an index built with another schema, analyzer or embedder than the settings ask for."""
    params = manifest.params
    if params.schema_version != SCHEMA_VERSION:
        raise _schema_mismatch(params.schema_version, index_dir)
    if params.analyzer != ANALYZER_VERSION:
        raise IndexMismatch(
            f"Index at {index_dir} was built with analyzer {params.analyzer}, this program uses "
            f"{ANALYZER_VERSION}; {REBUILD_HINT}."
        )
    check_embedder(params.embedder, settings, index_dir)


def _schema_mismatch(version: object, index_dir: Path) -> IndexMismatch:
    return IndexMismatch(
        f"Index at {index_dir} has schema version {version}, this program reads "
        f"version {SCHEMA_VERSION}; {REBUILD_HINT}."
    )
