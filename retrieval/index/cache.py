"""The embedding cache of a build: vectors by text hash, from the previous index and from the
resume shards a build writes as it embeds (so a killed build resumes where it stopped)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.embedders import Embedder
from retrieval.index.embedder_record import same_vectors
from retrieval.index.layout import VECTOR_FILES
from retrieval.index.manifest import Manifest, Params
from retrieval.index.store import load_array, save_array


@dataclass(frozen=True)
class EmbedProgress:
    """How far the embedding of a build's uncached texts is (reported after each checkpoint)."""

    texts_done: int
    texts_total: int
    chars_done: int
    chars_total: int


ProgressCallback = Callable[[EmbedProgress], None]


class EmbeddingCache:
    """Vectors by text hash: from the previous index and from resume shards written during a build."""

    def __init__(self, folder: Path, dim: int) -> None:
        self.folder = folder
        self.dim = dim
        self._rows: dict[bytes, np.ndarray] = {}
        self._shard = 0
        if folder.is_dir():
            for hashes_path in sorted(folder.glob("hashes-*.npy")):
                vectors_path = hashes_path.with_name(hashes_path.name.replace("hashes-", "vectors-"))
                try:
                    hashes, vectors = load_array(hashes_path, mmap=False), load_array(vectors_path, mmap=False)
                except (OSError, ValueError, EOFError):
                    continue  # a shard cut short by a kill is simply ignored
                if vectors.ndim == 2 and vectors.shape == (len(hashes), dim):
                    self._rows.update(zip(hashes.tolist(), vectors))
                self._shard += 1

    def add_index(self, index_dir: Path, manifest: Manifest | None, params: Params) -> None:
        """Reuse the vectors of an existing index built with the same embedder."""
        if manifest is None or not same_vectors(manifest.params.embedder, params.embedder):
            return
        for vectors_name, hashes_name in VECTOR_FILES:
            try:
                hashes = load_array(index_dir / hashes_name, mmap=False)
                vectors = load_array(index_dir / vectors_name, mmap=True)
            except (OSError, ValueError, EOFError):  # a damaged old index only means fewer cached vectors
                continue
            if vectors.shape == (len(hashes), self.dim):
                self._rows.update(zip(hashes.tolist(), vectors))

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """An array with the cached vector of each hash, and the positions no cache holds (rows left unset)."""
        out = np.empty((len(hashes), self.dim), dtype=np.float32)
        missing: list[int] = []
        for i, key in enumerate(hashes.tolist()):
            row = self._rows.get(key)
            if row is None:
                missing.append(i)
            else:
                out[i] = row
        return out, missing

    def fill(self, texts: list[str], hashes: np.ndarray, embedder: Embedder, batch_size: int,
             progress: ProgressCallback | None = None) -> tuple[np.ndarray, int]:
        """Vectors for all ``texts``, embedding only the uncached ones (checkpointed)."""
        out, missing = self.lookup(hashes)
        if not missing:
            return out, 0
        report = progress or (lambda state: None)
        chars_total = sum(len(texts[i]) for i in missing)
        report(EmbedProgress(0, len(missing), 0, chars_total))
        done = chars = 0
        for ids, vectors in self._embed(texts, missing, embedder, batch_size):
            out[ids] = vectors
            self._write_shard(hashes[ids], vectors)
            done += len(ids)
            chars += sum(len(texts[i]) for i in ids)
            report(EmbedProgress(done, len(missing), chars, chars_total))
        return out, len(missing)

    def _embed(self, texts: list[str], missing: list[int], embedder: Embedder,
               batch_size: int) -> Iterator[tuple[list[int], np.ndarray]]:
        """(positions, their vectors) for the ``missing`` texts, a checkpoint's worth at a time."""
        checkpoint_every = max(batch_size * 16, 256)
        for lo in range(0, len(missing), checkpoint_every):
            ids = missing[lo : lo + checkpoint_every]
            yield ids, embedder.embed_passages([texts[i] for i in ids], batch_size, progress=None)

    def _write_shard(self, hashes: np.ndarray, vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._shard += 1
        # vectors first, hashes last: a shard without its hashes file is never read; the pid keeps
        # two builds of one index from pairing one's hashes with the other's vectors
        shard = f"{os.getpid()}-{self._shard:06d}"
        for name, array in (("vectors", vectors), ("hashes", hashes)):
            tmp = self.folder / f".{name}-{shard}.npy"
            save_array(tmp, array)
            os.replace(tmp, self.folder / f"{name}-{shard}.npy")

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
