"""Where everything lives in an index folder: every file name is declared here, once.

A folder of plain files (nothing is pickled)::

    manifest.json            versions, embedder, chunking, corpus fingerprint, counts, file digests
    documents.jsonl          one line per article: id, title, source, url, date, chunk range
    chunks.npy               int32 (doc, start, end) per chunk
    chunk_text.bin/.offsets.npy   chunk texts (memory-mapped)
    chunk_vectors.npy        float32 L2-normalised passage vectors
    chunk_hashes.npy         16-byte content hashes (the embedding cache key)
    sentences.npy            int32 (doc, start, end) per sentence (the composer's units)
    sentence_vectors.npy / sentence_hashes.npy   (when SENTENCE_VECTORS is on)
    faiss.index              the local search backend: FAISS over chunk_vectors (inner product)
    bm25/                    the local search backend: BM25 files

Beside the folder (same parent), while or after a build runs::

    .NAME.tmp-PID            a build writing its new index (swapped in when complete)
    .NAME.old                the previous index during the swap
    .NAME.cache              vectors embedded so far (a killed build resumes from them)
    .NAME.lock               the build lock: one build of the index at a time (the file stays; only
                             a held lock counts, and the system releases it when its build ends or dies)
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
CHUNKS = "chunks.npy"
CHUNK_TEXT = "chunk_text"  # a TextBlob: chunk_text.bin + chunk_text.offsets.npy
CHUNK_VECTORS = "chunk_vectors.npy"
CHUNK_HASHES = "chunk_hashes.npy"
SENTENCES = "sentences.npy"
SENTENCE_VECTORS = "sentence_vectors.npy"
SENTENCE_HASHES = "sentence_hashes.npy"
FAISS_INDEX = "faiss.index"
BM25_DIR = "bm25"

# (vectors, hashes) pairs the embedding cache can reuse from a previous index
VECTOR_FILES = ((CHUNK_VECTORS, CHUNK_HASHES), (SENTENCE_VECTORS, SENTENCE_HASHES))


def tmp_dir(index_dir: Path, pid: int) -> Path:
    """Where build ``pid`` writes the new index before swapping it in."""
    return index_dir.parent / f".{index_dir.name}.tmp-{pid}"


def tmp_dirs(index_dir: Path) -> list[Path]:
    """Every build's temporary folder beside ``index_dir`` (finished, running or killed)."""
    return sorted(index_dir.parent.glob(f".{index_dir.name}.tmp-*"))


def old_dir(index_dir: Path) -> Path:
    """Where the previous index waits during the swap of a new one."""
    return index_dir.parent / f".{index_dir.name}.old"


def cache_dir(index_dir: Path) -> Path:
    """The resume cache of vectors embedded by an unfinished build."""
    return index_dir.parent / f".{index_dir.name}.cache"


def lock_file(index_dir: Path) -> Path:
    """The lock a build of ``index_dir`` holds from loading the corpus to the swap (readers take none)."""
    return index_dir.parent / f".{index_dir.name}.lock"
