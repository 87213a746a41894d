"""Helpers the bench/ scripts share: timing and memory figures, the machine note, the ANT news
corpus (subsets, chunk texts, headline queries), the evaluation sets on their cached indexes,
and a serving run in a fresh process (``run_child("serve", cfg)``).

Run as a script, it is that child: ``python bench/common.py --child serve CFG_JSON``.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(Path(__file__).resolve().parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
ANT = SHARED_DATA / "ant-news" / "ant_news_2018.jsonl.gz"
ANT_ARTICLES = 31_508
XQUAD = SHARED_DATA / "xquad" / "xquad.ar.json"
QUERY_STAGES = ("embed_query_ms", "bm25_ms", "dense_ms", "fusion_ms", "reader_ms", "compose_ms", "other_ms", "total_ms")
BUILD_STAGES = ("load+chunk", "embed", "bm25", "faiss", "write")


# --- figures -------------------------------------------------------------------------------


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def p50_p95(values) -> tuple[float, float]:
    return percentile(values, 50), percentile(values, 95)


def peak_rss_mb() -> float:
    """Peak resident set size of this process: VmHWM, not ru_maxrss, which a child started with
    fork + exec inherits from its parent (a small child of a big parent would report the parent's)."""
    return rss_mb()["VmHWM"]


def rss_mb() -> dict[str, float]:
    """Current RSS split into anonymous memory and file-backed pages (memory-mapped index files)."""
    fields = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


def folder_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 1e6


def sentence_chars(index_dir: Path) -> int:
    """Characters of all the sentences of an index (what SENTENCE_VECTORS embeds)."""
    from retrieval.index.layout import SENTENCES

    rows = np.load(Path(index_dir) / SENTENCES, allow_pickle=False)
    return int((rows[:, 2] - rows[:, 1]).sum()) if len(rows) else 0


def machine_note() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} "
            "(a shared machine: other jobs ran at the same time, timings are noisy)")


# --- the ANT news corpus -------------------------------------------------------------------


def ant_subset(n: int | None, folder: Path, seed: int = 0) -> Path:
    """A .jsonl.gz of ``n`` ANT articles drawn at random (fixed seed); the whole file for None."""
    if n is None or n >= ANT_ARTICLES:
        return ANT
    target = folder / f"ant-{n}.jsonl.gz"
    if target.is_file():
        return target
    keep = set(random.Random(seed).sample(range(ANT_ARTICLES), n))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with gzip.open(ANT, "rb") as src, gzip.open(tmp, "wb", compresslevel=1) as dst:
        for i, line in enumerate(src):
            if i in keep:
                dst.write(line)
    os.replace(tmp, target)
    return target


def ant_chunk_texts(n_chunks: int, chunk_size: int | None = None, seed: int = 0) -> list[str]:
    """Real ANT chunk texts (the build's chunking), from articles in random order."""
    from retrieval.ingest.chunking import chunk_document
    from retrieval.ingest.documents import LoadReport, load_corpus
    from retrieval.settings import Settings

    chunk_size = chunk_size or Settings(_env_file=None).index.chunk_size
    order = list(range(ANT_ARTICLES))
    random.Random(seed).shuffle(order)
    rank = {doc_no: i for i, doc_no in enumerate(order)}
    per_doc: list[tuple[int, list[str]]] = []
    for i, doc in enumerate(load_corpus(ANT, LoadReport())):
        per_doc.append((rank[i], [c.text for c in chunk_document(doc, chunk_size, 1)]))
    per_doc.sort()
    texts: list[str] = []
    for _, chunks in per_doc:
        texts.extend(chunks)
        if len(texts) >= n_chunks:
            break
    return texts[:n_chunks]


def queries_for(corpus: Path, n: int, seed: int = 7) -> list[str]:
    """Headline queries: the titles of random articles of ``corpus``, as a user would type a topic."""
    with gzip.open(corpus, "rt", encoding="utf-8") as handle:
        titles = [json.loads(line)["title"] for line in handle]
    rng = random.Random(seed)
    return [titles[i] for i in rng.sample(range(len(titles)), min(n, len(titles)))]


# --- evaluation sets -----------------------------------------------------------------------


def eval_set(squad: Path | None = None, qa: Path | None = None, corpus: Path | None = None, limit: int | None = None,
             chunk_size: int | None = None):
    """(Pipeline on the cached evaluation index, its questions) for a SQuAD file, or for a QA
    JSONL file with its corpus: the same index evaluate.py uses."""
    from retrieval.evaluation import cached_index, read_qa, read_squad, squad_corpus
    from retrieval.pipeline import Pipeline
    from retrieval.settings import Settings

    settings = Settings(**({"chunk_size": chunk_size} if chunk_size else {}))
    if squad:
        docs, items, _ = read_squad(squad)
        corpus = squad_corpus(squad, docs, 0)
    else:
        items = read_qa(qa)
    settings = cached_index(corpus, settings)
    if limit:
        items = items[:limit]
    return Pipeline.load(settings), items


# --- a serving run in its own process --------------------------------------------------------


def child_serve(cfg: dict) -> dict:
    """Pipeline.load, first answer, then the queries; timings per stage and memory."""
    import psutil

    from retrieval.embedders import base
    from retrieval.pipeline import Pipeline
    from retrieval.settings import Settings

    # EMBEDDER=bench-random (bench_scale.py's random passage vectors) loadable in this process
    base._REGISTRY.setdefault("bench-random", "bench_scale:RandomPassageEmbedder")  # noqa: SLF001
    # interpreter start-up and imports, before Pipeline.load (psutil's create_time has 10 ms resolution)
    imports_s = time.time() - psutil.Process().create_time()

    settings = Settings(_env_file=None, index_dir=cfg["index_dir"], embedder=cfg["embedder"], model=cfg.get("model"))
    queries = cfg["queries"]
    started = time.perf_counter()
    pipeline = Pipeline.load(settings)
    if cfg.get("faiss_threads"):
        import faiss

        faiss.omp_set_num_threads(cfg["faiss_threads"])
    loaded = time.perf_counter()
    first = pipeline.answer(cfg["first_query"])
    first_done = time.perf_counter()
    after_load = rss_mb()
    for q in cfg["warmup"]:
        pipeline.answer(q)
    stages: dict[str, list[float]] = {name: [] for name in QUERY_STAGES}
    abstained = 0
    for q in queries:
        t0 = time.perf_counter()
        answer = pipeline.answer(q)
        wall = (time.perf_counter() - t0) * 1000
        timings = dict(answer.timings_ms)
        timings["other_ms"] = max(0.0, wall - sum(v for k, v in timings.items() if k != "total_ms"))
        timings["total_ms"] = wall
        for name in QUERY_STAGES:
            stages[name].append(timings.get(name, 0.0))
        abstained += answer.abstained
    return {
        "imports_s": imports_s, "load_s": loaded - started, "first_answer_s": first_done - loaded,
        "startup_s": first_done - started,
        "first_abstained": first.abstained, "queries": len(queries), "abstained": abstained,
        "latency_ms": {name: dict(zip(("p50", "p95"), p50_p95(v))) for name, v in stages.items()},
        "rss_after_load_mb": after_load, "rss_after_queries_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(),
    }


def run_child(kind: str, cfg: dict, env: dict | None = None, script: Path | None = None) -> dict:
    """Run ``script --child KIND CFG_JSON`` (default: this file, whose only kind is "serve") in a
    fresh process, so its memory figures are its own; its JSON result is the last stdout line."""
    script = script or Path(__file__).resolve()
    out = subprocess.run([sys.executable, str(script), "--child", kind, json.dumps(cfg, ensure_ascii=False)],
                         cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} child failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if sys.argv[1:2] != ["--child"] or len(sys.argv) != 4 or sys.argv[2] != "serve":
        sys.exit("usage: python bench/common.py --child serve CFG_JSON (run by run_child)")
    print(json.dumps(child_serve(json.loads(sys.argv[3])), ensure_ascii=False))
