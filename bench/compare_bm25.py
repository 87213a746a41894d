"""BM25 backends head to head, rank-bm25 against bm25s (both in retrieval/backends/bm25.py), on real ANT
chunk text at 10k and 100k chunks: build time, load time, query latency p50/p95, memory, and
whether they rank alike.

Each backend builds in its own subprocess and is served from disk in another, so peak RSS is
each one's own. The corpus is analysed once (retrieval.text.arabic.analyze, the build's BM25 terms)
and handed to the children as a JSONL file of term lists.

Examples:
    python bench/compare_bm25.py                         # 10k and 100k chunks
    python bench/compare_bm25.py --chunks 10000 --queries 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(Path(__file__).resolve().parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402
from bench_scale import ANT, ant_chunk_texts, machine_note, p50_p95, peak_rss_mb, rss_mb  # noqa: E402

BACKENDS = ("bm25s", "rank-bm25")


def read_terms(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def child(cfg: dict) -> dict:
    import bm25s  # noqa: F401  (imported before any timing: its import is not the backend's cost)
    import rank_bm25  # noqa: F401

    from retrieval.backends.bm25 import backend

    cls = backend(cfg["backend"])
    if cfg["job"] == "build":
        terms = read_terms(Path(cfg["terms"]))
        base = rss_mb()["VmRSS"]
        t0 = time.perf_counter()
        index = cls()
        index.build(terms)
        built = time.perf_counter() - t0
        folder = Path(cfg["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        index.save(folder)
        saved = time.perf_counter() - t0
        return {"build_s": built, "save_s": saved, "rss_before_mb": base, "build_peak_rss_mb": peak_rss_mb(),
                "disk_mb": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6}
    # serve: load from disk, then the queries
    base = rss_mb()["VmRSS"]
    t0 = time.perf_counter()
    index = cls.load(Path(cfg["folder"]))
    loaded = time.perf_counter() - t0
    after_load = rss_mb()
    queries = cfg["queries"]
    for q in queries[:3]:
        index.scores(q)
    lat, tops = [], []
    for q in queries:
        t0 = time.perf_counter()
        scores = index.scores(q)
        top = np.argpartition(-scores, 10)[:10] if len(scores) > 10 else np.arange(len(scores))
        lat.append((time.perf_counter() - t0) * 1000)
        tops.append(sorted(int(i) for i in top[np.argsort(-scores[top], kind="stable")] if scores[i] > 0))
    return {"load_s": loaded, "rss_base_mb": base, "rss_after_load_mb": after_load, "serve_peak_rss_mb": peak_rss_mb(),
            "latency_ms": p50_p95(lat), "tops": tops, "first_scores": [float(x) for x in index.scores(queries[0])[:50]]}


def run_child(cfg: dict) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child"], input=json.dumps(cfg, ensure_ascii=False),
                         cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="\n".join(__doc__.split("\n")[9:12]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", default="10000,100000", help="comma-separated corpus sizes in chunks")
    parser.add_argument("--queries", type=int, default=100, help="queries for bm25s (rank-bm25 gets --slow-queries)")
    parser.add_argument("--slow-queries", type=int, default=30, help="queries for rank-bm25 at 100k chunks")
    parser.add_argument("--chunk-size", type=int, default=700,
                        help="chunking of the ANT text (default 700: all of ANT is 103k chunks at 700, 57.7k at 1200)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(sys.stdin.read())), ensure_ascii=False))
        return 0

    from bench_scale import queries_for

    from retrieval.text.arabic import analyze

    sizes = [int(s) for s in args.chunks.split(",")]
    print(f"reading {max(sizes):,} ANT chunks ...", file=sys.stderr, flush=True)
    texts = ant_chunk_texts(max(sizes), args.chunk_size)
    queries = [analyze(q) for q in queries_for(ANT, args.queries)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-bm25-") as tmp:
        work = Path(tmp)
        for n in sizes:
            terms_path = work / f"terms-{n}.jsonl"
            t0 = time.perf_counter()
            with open(terms_path, "w", encoding="utf-8") as handle:
                for text in texts[:n]:
                    handle.write(json.dumps(analyze(text), ensure_ascii=False) + "\n")
            analyse_s = time.perf_counter() - t0
            row = {"chunks": n, "analyse_s": analyse_s, "backends": {}}
            for name in BACKENDS:
                print(f"[{n:,} chunks] {name}: build ...", file=sys.stderr, flush=True)
                folder = work / f"{name}-{n}"
                built = run_child({"backend": name, "job": "build", "terms": str(terms_path), "folder": str(folder)})
                count = args.queries if name == "bm25s" or n <= 20_000 else args.slow_queries
                print(f"[{n:,} chunks] {name}: {count} queries ...", file=sys.stderr, flush=True)
                served = run_child({"backend": name, "job": "serve", "folder": str(folder), "queries": queries[:count]})
                row["backends"][name] = {**built, **served, "queries": count}
            a, b = (row["backends"][k] for k in BACKENDS)
            shared = min(len(a["tops"]), len(b["tops"]))
            row["top10_agreement"] = float(np.mean([len(set(x) & set(y)) / max(len(x), 1)
                                                    for x, y in zip(a["tops"][:shared], b["tops"][:shared])]))
            row["max_score_diff"] = float(np.max(np.abs(np.array(a["first_scores"]) - np.array(b["first_scores"]))))
            rows.append(row)
    report(rows, args.chunk_size)
    if args.json:
        for row in rows:
            for b in row["backends"].values():
                b.pop("tops", None)
        args.json.write_text(json.dumps({"machine": machine_note(), "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


def report(rows: list[dict], chunk_size: int) -> None:
    print(f"\n## BM25 backends: rank-bm25 vs bm25s (real ANT chunks of {chunk_size} characters, Lucene BM25 k1=1.2 b=0.75)")
    print(f"machine: {machine_note()}")
    print("\n| chunks | backend | build s | save s | load s | query p50 / p95 ms | build peak RSS MB (terms in memory) "
          "| serving RSS after load MB (Δ over bare process) | disk MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        for name, b in row["backends"].items():
            print(f"| {row['chunks']:,} | {name} | {b['build_s']:.2f} | {b['save_s']:.2f} | {b['load_s']:.2f} | "
                  f"{b['latency_ms'][0]:.1f} / {b['latency_ms'][1]:.1f} ({b['queries']} q) | {b['build_peak_rss_mb']:.0f} "
                  f"(terms loaded: {b['rss_before_mb']:.0f}) | {b['rss_after_load_mb']['VmRSS']:.0f} "
                  f"(+{b['rss_after_load_mb']['VmRSS'] - b['rss_base_mb']:.0f}) | {b['disk_mb']:.1f} |")
    print("\n| chunks | analyse (shared) s | rank-bm25 / bm25s: build | load | query p50 | query p95 | serving RSS Δ "
          "| top-10 agreement | max score diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        r, s = row["backends"]["rank-bm25"], row["backends"]["bm25s"]
        mem_r = r["rss_after_load_mb"]["VmRSS"] - r["rss_base_mb"]
        mem_s = max(s["rss_after_load_mb"]["VmRSS"] - s["rss_base_mb"], 1e-9)
        print(f"| {row['chunks']:,} | {row['analyse_s']:.1f} | {r['build_s'] / s['build_s']:.1f}× | "
              f"{r['load_s'] / max(s['load_s'], 1e-9):.0f}× | "
              f"{r['latency_ms'][0] / s['latency_ms'][0]:.0f}× | {r['latency_ms'][1] / s['latency_ms'][1]:.0f}× | "
              f"{mem_r / mem_s:.1f}× | {row['top10_agreement']:.3f} | {row['max_score_diff']:.2e} |")


if __name__ == "__main__":
    sys.exit(main())
