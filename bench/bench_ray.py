"""The Ray Data build's overhead against the local build, on the same corpus in one run.

Each round builds a fresh index of the corpus twice, locally (``build_index``, EMBED_THREADS cores) and
on a local Ray of ``--cpus`` CPUs (``build_index_ray``, ``--workers`` actors of one thread each), in
alternating order; both embed every text (no cache). Prints the medians per stage, the ratio, Ray's
start-up time and the memory of its processes, and whether the two indexes are the same (every
non-vector file byte-identical, vectors within 1e-5). On one machine Ray buys nothing: the point is
the same code on a cluster; this measures what the scaffolding costs.

Examples:
    python bench/bench_ray.py                          # the seed corpus, 3 rounds (~5 min on 2 busy cores)
    python bench/bench_ray.py --articles 200 --rounds 2 --json data/bench-ray.json   # 200 ANT articles
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(Path(__file__).resolve().parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402
from common import BUILD_STAGES, ant_subset, machine_note  # noqa: E402

VECTOR_FILES = ("chunk_vectors.npy", "sentence_vectors.npy")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, help="N ANT articles drawn at random (default: the seed corpus, corpus/)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="embedding actors, one thread each (default 2)")
    parser.add_argument("--json", type=Path, help="write the raw measurements here")
    return parser.parse_args(argv)


def ray_processes_mb() -> float:
    """Resident memory of every process Ray started under this one (GCS, raylet, workers), in MiB."""
    import psutil

    return sum(child.memory_info().rss for child in psutil.Process().children(recursive=True)) / 2**20


def same_index(a: Path, b: Path) -> tuple[bool, float]:
    """Whether two index folders hold the same files (vectors aside), and the largest vector difference."""
    files_a = json.loads((a / "manifest.json").read_text(encoding="utf-8"))["files"]
    files_b = json.loads((b / "manifest.json").read_text(encoding="utf-8"))["files"]
    identical = files_a.keys() == files_b.keys() and all(
        files_a[name] == files_b[name] for name in files_a if name not in (*VECTOR_FILES, "faiss.index"))
    diff = max(float(np.abs(np.load(a / name) - np.load(b / name)).max()) for name in VECTOR_FILES)
    return identical, diff


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import ray

    from retrieval.ingest.build import build_index
    from retrieval.ingest.ray_build import build_index_ray
    from retrieval.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    corpus = ant_subset(args.articles, work) if args.articles else ROOT / "corpus"
    print(f"corpus: {corpus if args.articles is None else f'{args.articles} ANT articles'}; {machine_note()}", file=sys.stderr)
    t0 = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t0
    time.sleep(2)  # let the workers Ray pre-starts settle before their memory is read
    idle_mb = ray_processes_mb()

    runs: dict[str, list[dict]] = {"local": [], "ray": []}
    peak_mb = idle_mb
    last: dict[str, Path] = {}
    for round_no in range(args.rounds):
        order = ("local", "ray") if round_no % 2 == 0 else ("ray", "local")
        for kind in order:
            index_dir = work / f"{kind}-{round_no}"
            settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=index_dir)
            if kind == "local":
                result = build_index(settings, progress=False)
            else:
                result = build_index_ray(settings, workers=args.workers)
                peak_mb = max(peak_mb, ray_processes_mb())
            runs[kind].append({"seconds": result.seconds, "stages": result.stage_seconds, "texts": result.embedded,
                               "chunks": result.chunks, "sentences": result.sentences})
            last[kind] = index_dir
            print(f"round {round_no + 1} {kind}: {result.seconds:.1f} s", file=sys.stderr)
    ray.shutdown()
    identical, diff = same_index(last["local"], last["ray"])

    def median(kind: str, stage: str | None = None) -> float:
        return statistics.median(r["seconds"] if stage is None else r["stages"].get(stage, 0.0) for r in runs[kind])

    first = runs["local"][0]
    print(f"\nRay build vs local build: {first['chunks']} chunks + {first['sentences']} sentences embedded per build, "
          f"median of {args.rounds} rounds; Ray: {args.cpus} CPUs, {args.workers} actors of 1 thread; local: EMBED_THREADS\n")
    print("| stage | local (s) | Ray (s) | Ray / local |")
    print("|---|---|---|---|")
    for stage in (*BUILD_STAGES, None):
        local, on_ray = median("local", stage), median("ray", stage)
        ratio = f"{on_ray / local:.2f}" if local > 0 else "–"
        print(f"| {stage or '**total**'} | {local:.2f} | {on_ray:.2f} | {ratio} |")
    print(f"\nray.init({args.cpus} CPUs): {init_s:.1f} s; Ray's processes: {idle_mb:.0f} MiB idle, {peak_mb:.0f} MiB at most "
          f"during a build (every child process's RSS, shared pages counted in each)")
    print(f"same index: non-vector files byte-identical: {identical}; largest vector difference: {diff:.2e}")
    print(machine_note())
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "ray_init_s": init_s, "ray_idle_mb": idle_mb, "ray_peak_mb": peak_mb,
                                         "identical": identical, "max_vector_diff": diff}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
