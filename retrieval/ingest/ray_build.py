"""Index build on Ray Data, for archives one machine embeds too slowly (``index_build.py --ray``).

load (here) -> analyze/chunk (Ray tasks) -> embed (an actor pool: one model per worker, a GPU each
when EMBED_DEVICE is cuda) -> the local build's commit (retrieval/ingest/build.py), so the result is the
same index in the search backend the settings choose. Everything but the cutting and the embedding
is the local build's own code (BuildSteps): the up-to-date check, the vectors reused from the previous
index, the resume shards written as vectors come back (a killed build resumes), the commit and swap.
``RAY_ADDRESS`` (or ``address``) points it at a cluster; without one Ray starts on this machine.
Needs the ``scale`` extra (``pip install '.[scale]'``); nothing else imports this module."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedders import create as create_embedder
from retrieval.embedders import from_settings as embedder_from_settings
from retrieval.errors import EmbedderUnavailable, RetrievalError
from retrieval.index.cache import EmbeddingCache, ProgressCallback
from retrieval.ingest.build import BuildResult, BuildSteps, ChunkedCorpus, DocumentCut, bm25_input, build_index, cut_document
from retrieval.ingest.documents import FieldLimits, LoadReport, load_corpus
from retrieval.models import Document
from retrieval.settings import Settings
from retrieval.text.arabic import analyze

__all__ = ["RayPlan", "build_index_ray"]

INSTALL_HINT = "pip install 'arabic-news-qa[scale]' (Ray Data)"
# texts handed to one worker call; big enough to keep a GPU busy, small enough to spread the work
WORKER_BATCH = 256
# texts per resume shard the driver writes as vectors come back
CHECKPOINT = 1024
CONNECT_TIMEOUT = 5.0  # seconds to reach RAY_ADDRESS before saying it cannot be reached


@dataclass(frozen=True)
class RayPlan:
    """How the embedding is spread: ``workers`` actors, each holding one model and ``num_gpus`` GPUs
    (0 on CPU) and ``num_cpus`` cores (its embedder's threads)."""

    workers: int
    num_gpus: float
    num_cpus: float
    embedder_options: dict[str, Any]  # create()'s arguments, as each worker makes its embedder

    @classmethod
    def from_settings(cls, settings: Settings, resources: dict[str, float], workers: int | None = None) -> RayPlan:
        """A plan for the cluster whose ``resources`` (ray.cluster_resources()) are given: one worker per
        GPU when EMBED_DEVICE is cuda, else one per EMBED_THREADS cores (one core each by default)."""
        gpu = settings.embedder.embed_device.startswith("cuda")
        if gpu and resources.get("GPU", 0) < 1:
            raise EmbedderUnavailable(f"EMBED_DEVICE={settings.embedder.embed_device} but the Ray cluster has no GPU "
                                      "(its resources: " + ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items())
                                                                   if k in ("CPU", "GPU")) + "); use --device cpu.")
        threads = max(1, settings.embedder.embed_threads)
        if workers is not None and workers < 1:
            raise RetrievalError(f"--ray-workers must be at least 1 (got {workers}).")
        default = int(resources.get("GPU", 0)) if gpu else max(1, int(resources.get("CPU", 1)) // threads)
        model = settings.embedder.model
        if model and Path(model).exists():  # a folder: workers may start in another directory
            model = str(Path(model).resolve())
        options = {"name": settings.embedder.embedder, "model": model, "models_dir": str(Path(settings.embedder.models_dir).resolve()),
                   "precision": settings.embedder.e5_precision, "threads": threads, "spin": settings.embedder.embed_spin,
                   # Ray gives each GPU actor its own device as CUDA_VISIBLE_DEVICES: it is always "cuda" there
                   "device": "cuda" if gpu else settings.embedder.embed_device,
                   "batch_size": settings.embedder.embed_batch_size}
        return cls(workers=workers or default, num_gpus=1.0 if gpu else 0.0, num_cpus=1.0 if gpu else float(threads),
                   embedder_options=options)


def build_index_ray(
    settings: Settings,
    corpus: Path | None = None,
    index_dir: Path | None = None,
    rebuild: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    on_stage: Callable[[str], None] | None = None,
    reuse_from: list[Path] | None = None,
    address: str | None = None,
) -> BuildResult:
    """``build_index`` with the cutting and the embedding done on a Ray cluster (the one already
    initialised in this process, else ``address``, else RAY_ADDRESS, else a local one started and
    stopped here). Same arguments and result as ``build_index``; ``workers``: embedding actors
    (default: one per GPU, or one per EMBED_THREADS cores)."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        _check_reachable(address or os.environ.get("RAY_ADDRESS"))
        try:
            # log_to_driver off: a library never prints, and the workers' logs stay in Ray's session folder
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise RetrievalError(f"Cannot start or reach the Ray cluster{f' at {address}' if address else ''} "
                                 f"({_last_line(exc)}); check RAY_ADDRESS, or unset it to run Ray on this machine.") from None
    # progress is the caller's callback: Ray Data's bars and per-run log lines stay off while it runs
    context = ray.data.DataContext.get_current()
    quiet = {"enable_progress_bars": False, "print_on_execution_start": False, "enable_auto_log_stats": False}
    before = {key: getattr(context, key) for key in quiet}
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    try:
        for key, value in quiet.items():
            setattr(context, key, value)
        data_log.setLevel(logging.ERROR)
        plan = RayPlan.from_settings(settings, ray.cluster_resources(), workers)
        # the manifest's embedder record and the cache salt come from an embedder of the same identity
        # made here on the CPU (the driver may have no GPU; the vectors come from the workers)
        here = embedder_from_settings(settings.with_(embed_device="cpu"))
        steps = BuildSteps(load_and_chunk=lambda folder, s, report: _load_and_chunk(ray, folder, s, report),
                           embedding_cache=lambda folder, dim: _RayEmbeddingCache(folder, dim, ray, plan))
        try:
            return build_index(settings, corpus, index_dir, rebuild, embedder=here, progress=progress,
                               on_stage=on_stage, reuse_from=reuse_from, steps=steps)
        except ray.exceptions.RayError as exc:
            raise RetrievalError(f"A Ray worker failed, so nothing was written (the previous index still serves; "
                                 f"vectors embedded so far are cached): {_worker_error(exc)}") from None
    finally:
        for key, value in before.items():
            setattr(context, key, value)
        data_log.setLevel(level)
        if started_here:
            ray.shutdown()


def _load_and_chunk(ray: Any, corpus: Path, settings: Settings, report: LoadReport) -> ChunkedCorpus:
    """Documents are read here (the loaders report bad files to ``report``), cut and analysed by Ray
    tasks, and put back in corpus order, so chunk ids are the local build's."""
    docs = list(load_corpus(corpus, report, FieldLimits.from_settings(settings)))
    out = ChunkedCorpus(chunk_terms=[])
    if not docs:
        return out
    items = [{"doc": i, "id": d.id, "title": d.title, "text": d.text, "source": d.source} for i, d in enumerate(docs)]
    cut = ray.data.from_items(items).map(_cut_row, fn_kwargs={"size": settings.index.chunk_size, "overlap": settings.index.chunk_overlap})
    results: list[dict | None] = [None] * len(docs)
    for row in cut.iter_rows():
        results[int(row["doc"])] = json.loads(row["cut"])
    for doc, result in zip(docs, results):
        out.add(doc, DocumentCut([tuple(s) for s in result["chunk_spans"]], result["chunk_texts"],
                                 [tuple(s) for s in result["sentence_spans"]], result["sentence_texts"]))
        out.chunk_terms.extend(result["terms"])
    return out


def _cut_row(row: dict[str, Any], size: int, overlap: int) -> dict[str, Any]:
    """One document's chunks, sentences and chunk BM25 terms (runs on a Ray worker). The result is one
    JSON string: lists whose lengths vary per document (or are empty) need no Arrow schema that way."""
    doc = Document(id=row["id"], title=row["title"], text=row["text"], source=row["source"])
    cut = cut_document(doc, size, overlap)
    terms = [analyze(bm25_input(doc.title, text, start)) for (start, _), text in zip(cut.chunk_spans, cut.chunk_texts)]
    return {"doc": row["doc"], "cut": json.dumps({"chunk_spans": cut.chunk_spans, "chunk_texts": cut.chunk_texts,
                                                   "sentence_spans": cut.sentence_spans,
                                                   "sentence_texts": cut.sentence_texts, "terms": terms},
                                                  ensure_ascii=False)}


class _RayEmbeddingCache(EmbeddingCache):
    """The build's embedding cache, filled by the Ray actor pool: the texts no cache holds go to the
    workers in one streaming dataset, and each batch that comes back is written as a resume shard."""

    def __init__(self, folder: Path, dim: int, ray: Any, plan: RayPlan) -> None:
        super().__init__(folder, dim)
        self._ray = ray
        self._plan = plan

    def _embed(self, texts: list[str], missing: list[int], embedder: Any,
               batch_size: int) -> Iterator[tuple[list[int], np.ndarray]]:
        # ``embedder`` (the driver's) only named the vectors; the workers make their own
        # by length: a worker's batch holds texts of similar length, so little padding
        missing = sorted(missing, key=lambda i: len(texts[i]))
        plan = self._plan
        vectors = self._ray.data.from_items([{"row": i, "text": texts[i]} for i in missing]).map_batches(
            _Encoder, fn_constructor_kwargs={"options": plan.embedder_options}, batch_size=WORKER_BATCH,
            compute=self._ray.data.ActorPoolStrategy(size=plan.workers), num_gpus=plan.num_gpus, num_cpus=plan.num_cpus)
        for batch in vectors.iter_batches(batch_size=CHECKPOINT, batch_format="numpy"):
            ids = np.asarray(batch["row"], dtype=np.int64)
            yield ids.tolist(), np.asarray(batch["vector"], dtype=np.float32).reshape(len(ids), self.dim)


class _Encoder:
    """A Ray actor's embedder: made once per worker, then called with batch after batch."""

    def __init__(self, options: dict[str, Any]) -> None:
        options = dict(options)
        self._batch_size = options.pop("batch_size")
        self._embedder = create_embedder(options.pop("name"), options.pop("model"), **options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self._embedder.embed_passages([str(t) for t in batch["text"]], self._batch_size)
        return {"row": batch["row"], "vector": vectors}


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (the Data library is a separate import)
    except ImportError:
        raise RetrievalError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}.") from None
    return ray


def _check_reachable(address: str | None) -> None:
    """Refuse at once a cluster address nothing answers at: ray.init would retry it for minutes."""
    if not address or address in ("auto", "local") or ("://" in address and not address.startswith("ray://")):
        return  # no cluster named, Ray's own lookup, or a form Ray resolves itself
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RetrievalError(f"RAY_ADDRESS {address!r} is not host:port (e.g. head-node:6379); fix it, or unset it "
                             "to run Ray on this machine.")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise RetrievalError(f"Cannot reach the Ray cluster at {address} ({exc.strerror or exc}); check RAY_ADDRESS "
                             "and that the head node runs `ray start --head`, or unset it to run Ray on this machine.") from None


def _worker_error(exc: BaseException) -> str:
    """The worker's own error: a failed task carries it as ``cause``; an actor that died while starting
    (its model would not load, say) only as the last line of the traceback in its message."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, RetrievalError):
        return str(cause)
    line = _last_line(exc)
    name, sep, message = line.partition(": ")
    return message if sep and name.startswith("retrieval.errors.") else line


def _last_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__
