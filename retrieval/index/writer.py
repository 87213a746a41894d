"""The index writer: a new index is written into a temporary sibling folder and swapped in whole,
so a killed build never leaves a half index; the recovery and clean-up of killed builds live here too,
and the build lock (``build_lock``): one build of an index at a time, readers take no lock."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from retrieval.backends.base import SearchBackend
from retrieval.errors import IndexBusy, RetrievalError
from retrieval.index import layout
from retrieval.index.manifest import Manifest
from retrieval.index.store import TextBlob, file_digest, save_array, write_json


@dataclass
class IndexContent:
    """Everything an index folder holds besides the search backend's own files."""

    documents: list[dict]  # documents.jsonl records
    chunk_rows: np.ndarray  # int32 (doc, start, end)
    chunk_texts: list[str]
    chunk_vectors: np.ndarray
    chunk_hashes: np.ndarray
    sentence_rows: np.ndarray
    sentence_vectors: np.ndarray | None  # None (with its hashes) when SENTENCE_VECTORS is off
    sentence_hashes: np.ndarray | None


log = logging.getLogger(__name__)

SWAP_WAIT_SECONDS = 2.0  # a reader that finds a build between its two renames waits this long for the new index


@contextmanager
def build_lock(index_dir: Path, wait_seconds: float) -> Iterator[Path]:
    """Hold the lock of ``index_dir`` (a file beside it, layout.lock_file) for a whole build, load to
    swap: a second build waits up to ``wait_seconds`` (BUILD_LOCK_WAIT_SECONDS), then is refused with
    IndexBusy. The system releases the lock when its holder ends or is killed, so a stale lock file is harmless."""
    path = layout.lock_file(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("another build of %s holds %s; waiting up to %g s for it", index_dir, path, wait_seconds)
        try:
            lock.acquire(timeout=max(wait_seconds, 0.0))
        except Timeout:
            raise IndexBusy(
                f"Another build of the index {index_dir} is running (it holds the lock {path}); waited {wait_seconds:g} s "
                "for it to finish. Run this build again once that one is done, or let builds wait longer with "
                "BUILD_LOCK_WAIT_SECONDS. The lock goes with the build that holds it (even a killed one): "
                "do not delete the lock file."
            ) from None
    try:
        yield path
    finally:
        lock.release()


def recover_swap(index_dir: Path) -> Path:
    """A reader's view of ``index_dir``: after a crash between the two renames of a swap, put the old
    index back. A build holding the lock is in its swap: its new index is waited for briefly instead
    (readers never wait for a whole build). Returns the folder to read (the old one when the
    filesystem is read-only or the swap is not done in time)."""
    old = layout.old_dir(index_dir)
    if index_dir.exists() or not (old / layout.MANIFEST).is_file():
        return index_dir
    lock = FileLock(layout.lock_file(index_dir))
    try:
        lock.acquire(timeout=0)
    except Timeout:  # a build is between its two renames: its new index appears in a moment
        deadline = time.monotonic() + SWAP_WAIT_SECONDS
        while not index_dir.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return index_dir if index_dir.exists() else old
    except OSError:  # no lock file can be made here (a read-only place): no build runs, recover as before
        return _recover_swap(index_dir)
    try:
        return _recover_swap(index_dir)
    finally:
        lock.release()


def _recover_swap(index_dir: Path) -> Path:
    """``recover_swap`` for the holder of the build lock (or where no lock can be taken)."""
    old = layout.old_dir(index_dir)
    if not index_dir.exists() and (old / layout.MANIFEST).is_file():
        try:
            os.replace(old, index_dir)
        except OSError:
            return old
    return index_dir


class IndexWriter:
    """Writes the index at ``index_dir``: ``prepare`` before any work, then ``stage`` a new folder,
    fill it, and ``commit`` it; or ``tidy`` when the index on disk is already up to date. The caller
    holds ``build_lock`` throughout."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.cache_dir = layout.cache_dir(index_dir)

    def check_place(self) -> None:
        """Refuse an index folder that is a file (changes nothing on disk)."""
        if self.index_dir.exists() and not self.index_dir.is_dir():
            raise RetrievalError(f"{self.index_dir} is a file, not an index folder; choose another --index-dir (INDEX_DIR).")

    def prepare(self) -> None:
        """Recover an interrupted swap; refuse to replace a folder that is not an index; make
        the parent folder (an unwritable place fails now, not after embedding)."""
        _recover_swap(self.index_dir)  # the caller holds the build lock (build_lock)
        self.check_place()
        index_dir = self.index_dir
        if index_dir.is_dir() and not (index_dir / layout.MANIFEST).is_file() and any(index_dir.iterdir()):
            raise RetrievalError(
                f"{index_dir} exists and is not an index (no {layout.MANIFEST}); building would replace everything in it. "
                "Choose a new or empty folder with --index-dir (INDEX_DIR), or delete that folder first."
            )
        index_dir.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def stage(self) -> Iterator[Path]:
        """A fresh temporary sibling folder to write the new index into; removed if anything fails."""
        tmp = layout.tmp_dir(self.index_dir, os.getpid())
        self._remove_stale_tmp()
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def commit(self, tmp: Path, manifest: Manifest) -> Manifest:
        """Record every file's digest in the manifest, write it last, sync, and swap ``tmp`` in."""
        manifest = manifest.model_copy(update={
            "files": {p.relative_to(tmp).as_posix(): file_digest(p) for p in sorted(tmp.rglob("*")) if p.is_file()},
        })
        write_json(tmp / layout.MANIFEST, manifest.model_dump(mode="json"))
        _fsync_tree(tmp)
        self._swap_in(tmp)
        return manifest

    def tidy(self) -> None:
        """What a build killed after its swap leaves beside an up-to-date index: the old index
        (half deleted), the resume cache and temporary folders."""
        shutil.rmtree(layout.old_dir(self.index_dir), ignore_errors=True)
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        self._remove_stale_tmp()

    def _swap_in(self, tmp: Path) -> None:
        """Replace ``index_dir`` by ``tmp``: two renames; a crash between them is recovered by
        ``recover_swap`` (the old index is put back or the new one is used)."""
        old = layout.old_dir(self.index_dir)
        shutil.rmtree(old, ignore_errors=True)
        if self.index_dir.exists():
            os.replace(self.index_dir, old)
        os.replace(tmp, self.index_dir)
        shutil.rmtree(old, ignore_errors=True)

    def _remove_stale_tmp(self) -> None:
        """Remove the half-written folders of builds killed with SIGKILL (their process is gone)."""
        for folder in layout.tmp_dirs(self.index_dir):
            pid = folder.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)


def write_content(folder: Path, content: IndexContent, backend: SearchBackend) -> None:
    """Write the documents, chunks, sentences, vectors and the backend's files into ``folder``. Text
    UTF-8 cannot hold (a lone surrogate the loader's cleaning did not see) is written as "?", never a crash."""
    with open(folder / layout.DOCUMENTS, "w", encoding="utf-8", errors="replace") as handle:
        for doc in content.documents:
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
    save_array(folder / layout.CHUNKS, content.chunk_rows)
    TextBlob.write(folder, layout.CHUNK_TEXT, content.chunk_texts)
    save_array(folder / layout.CHUNK_VECTORS, content.chunk_vectors)
    save_array(folder / layout.CHUNK_HASHES, content.chunk_hashes)
    save_array(folder / layout.SENTENCES, content.sentence_rows)
    if content.sentence_vectors is not None:
        save_array(folder / layout.SENTENCE_VECTORS, content.sentence_vectors)
        save_array(folder / layout.SENTENCE_HASHES, content.sentence_hashes)
    backend.save(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to another user
        return True
    return True


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
