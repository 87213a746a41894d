"""The checked loader: an index folder (see layout.py) -> a loaded, consistent ``Index``."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from retrieval.backends.base import SearchBackend, backend_class
from retrieval.errors import IndexCorrupt
from retrieval.index.embedder_record import REBUILD_HINT
from retrieval.index.layout import (
    CHUNK_TEXT,
    CHUNK_VECTORS,
    CHUNKS,
    DOCUMENTS,
    SENTENCE_VECTORS,
    SENTENCES,
)
from retrieval.index.manifest import Manifest, check_compatible, read_manifest
from retrieval.index.store import TextBlob, file_digest, load_array
from retrieval.index.writer import recover_swap
from retrieval.models import DocumentInfo
from retrieval.settings import Settings
from retrieval.understand.lexicon import Lexicon


class Index:
    """A loaded index: documents, chunk spans and texts, vectors, and the search backend over them."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.manifest = manifest
        self.params = manifest.params
        self.documents: list[DocumentInfo] = []
        self.doc_meta: list[dict] = []
        self.chunks: np.ndarray = np.zeros((0, 3), np.int32)
        self.chunk_text: TextBlob
        self.chunk_vectors: np.ndarray
        self.sentences: np.ndarray
        self.sentence_vectors: np.ndarray | None = None
        self.backend: SearchBackend
        # the tables built from the BM25 vocabulary (English names, spelling): built once, gone with the index
        self.lexicon = Lexicon(lambda: self.backend.term_frequencies())

    @classmethod
    def load(cls, index_dir: Path, settings: Settings | None = None, verify: bool = True) -> Index:
        """Load and check ``index_dir``. ``settings`` (when given) must match the embedder it
        was built with. ``verify`` checks every file against the manifest's SHA-256."""
        index_dir = recover_swap(Path(index_dir))
        manifest = read_manifest(index_dir)
        if settings is not None:
            check_compatible(manifest, settings, index_dir)
        self = cls(index_dir, manifest)
        for name, digest in manifest.files.items():
            path = index_dir / name
            if not path.is_file():
                raise IndexCorrupt(f"Index at {index_dir} is missing {name}; {REBUILD_HINT}.")
            if verify and file_digest(path) != digest:
                raise IndexCorrupt(f"Index file {path} is damaged (checksum differs from the manifest); {REBUILD_HINT}.")
        try:
            self._load_files(settings)
        # EOFError: an empty .npy; TypeError/IndexError: a documents.jsonl line of the wrong shape
        except (OSError, ValueError, RuntimeError, KeyError, EOFError, TypeError, IndexError) as exc:
            raise IndexCorrupt(f"Index at {index_dir} cannot be read ({exc}); {REBUILD_HINT}.") from None
        self._check_counts()
        return self

    def _load_files(self, settings: Settings | None = None) -> None:
        folder = self.folder
        with open(folder / DOCUMENTS, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                self.doc_meta.append(record)
                self.documents.append(DocumentInfo(**{k: record.get(k) for k in DocumentInfo.model_fields}))
        self.chunks = load_array(folder / CHUNKS, mmap=False)
        self.chunk_text = TextBlob.open(folder, CHUNK_TEXT)
        self.chunk_vectors = load_array(folder / CHUNK_VECTORS)
        self.sentences = load_array(folder / SENTENCES, mmap=False)
        if self.params.sentence_vectors:
            self.sentence_vectors = load_array(folder / SENTENCE_VECTORS)
        self.backend = backend_class(self.params.search_backend).open(folder, self.params, self.chunk_vectors, settings)
        served = self.backend.sentence_vectors()  # an engine that holds them serves them (local: None)
        if served is not None and self.sentence_vectors is not None:
            self.sentence_vectors = served

    def _check_counts(self) -> None:
        n = len(self.chunks)
        counts = {"chunk texts": len(self.chunk_text), "chunk vectors": len(self.chunk_vectors), **self.backend.counts()}
        if self.sentence_vectors is not None:
            if len(self.sentence_vectors) != len(self.sentences):
                counts["sentence vectors"] = -1
        bad: dict[str, object] = {name: value for name, value in counts.items() if value != n}
        expected_dim = self.params.embedder.get("dim")
        expected = self.manifest.counts
        if expected.documents != len(self.documents):
            bad["documents"] = len(self.documents)
        if expected.sentences != len(self.sentences):
            bad["sentences"] = len(self.sentences)
        # spans must index real documents, or a search would fail (or cite the wrong article) later
        for name, rows in (("chunk rows", self.chunks), ("sentence rows", self.sentences)):
            if rows.ndim != 2 or rows.shape[1] != 3 or rows.dtype.kind not in "iu":
                bad[name] = f"shape {rows.shape} {rows.dtype}"
            elif len(rows) and (rows[:, 0].min() < 0 or rows[:, 0].max() >= len(self.documents)
                                or (rows[:, 1] > rows[:, 2]).any()):
                bad[name] = "out of range"
        vectors_ok = self.chunk_vectors.ndim == 2 and self.chunk_vectors.shape[1] == expected_dim
        if not vectors_ok or self.backend.dim != expected_dim:
            bad["vector dimension"] = f"{self.chunk_vectors.shape}, search backend {self.backend.dim}, manifest {expected_dim}"
        if bad or expected.chunks != n:
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
