"""Serve an index that already exists (e.g. the full ANT archive built by index_build.py) and
measure what a user meets: start-up, memory, latency per stage, and whether headline questions
find their own article.

    .venv/bin/python bench/serve_index.py --index-dir data/ant \
        --corpus ../shared/data/ant-news/ant_news_2018.jsonl.gz --headlines 50 --queries 200

Every serving run is a fresh process (its memory figures are its own); --rounds N repeats it and
reports medians. Headline questions: the titles of --headlines random articles (fixed seed),
asked as a user would type a topic; a hit is the article itself among the top-5 passages' articles.
The latency queries are other random headlines. Prints a markdown table; --json writes everything.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import QUERY_STAGES, child_serve, folder_size_mb, machine_note, run_child  # noqa: E402


def headlines(corpus: Path, n: int, seed: int) -> list[tuple[str, str]]:
    """(title, article id) of ``n`` random articles with distinct, non-trivial titles."""
    with gzip.open(corpus, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    counts: dict[str, int] = {}
    for r in records:
        counts[r["title"]] = counts.get(r["title"], 0) + 1
    usable = [(r["title"], r["id"]) for r in records if counts[r["title"]] == 1 and len(r["title"].split()) >= 3]
    return random.Random(seed).sample(usable, min(n, len(usable)))


def child(cfg: dict) -> dict:
    """One serving run: common.child_serve's figures, then the headline questions' hits."""
    result = child_serve(cfg)
    from retrieval.pipeline import Pipeline
    from retrieval.settings import Settings

    pipeline = Pipeline.load(Settings(_env_file=None, index_dir=cfg["index_dir"], embedder=cfg["embedder"]))
    ranks = []
    for title, doc_id in cfg["headlines"]:
        answer = pipeline.answer(title)
        found = [p.doc_id for p in answer.passages[:5]]
        ranks.append(found.index(doc_id) + 1 if doc_id in found else None)
    result["headline_ranks"] = ranks
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--corpus", type=Path, help="the JSONL(.gz) the index was built from (titles, ids)")
    parser.add_argument("--headlines", type=int, default=50)
    parser.add_argument("--queries", type=int, default=200, help="timed queries (after 10 warm-up ones)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--embedder", default="onnx")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child[1])), ensure_ascii=False))
        return 0
    if not args.index_dir or not args.corpus:
        parser.error("--index-dir and --corpus are required")

    picked = headlines(args.corpus, args.headlines + args.queries + 11, args.seed)
    asked, others = picked[: args.headlines], [title for title, _ in picked[args.headlines :]]
    cfg = {"index_dir": str(args.index_dir), "embedder": args.embedder, "first_query": others[0],
           "warmup": others[1:11], "queries": others[11:], "headlines": asked}
    runs = [run_child("serve", cfg, script=Path(__file__)) for _ in range(args.rounds)]
    manifest = json.loads((args.index_dir / "manifest.json").read_text(encoding="utf-8"))

    def med(get) -> float:
        return statistics.median(get(r) for r in runs)

    ranks = runs[0]["headline_ranks"]
    hits = sum(r is not None for r in ranks)
    print(f"# Serving {args.index_dir} ({manifest['counts']['documents']:,} articles, "
          f"{manifest['counts']['chunks']:,} chunks, {manifest['counts']['sentences']:,} sentences, "
          f"{folder_size_mb(args.index_dir):,.0f} MB on disk)")
    print(machine_note())
    print(f"\nstart-up (load + first answer) {med(lambda r: r['startup_s']):.2f} s "
          f"(load {med(lambda r: r['load_s']):.2f} s, first answer {med(lambda r: r['first_answer_s']):.2f} s, "
          f"imports {med(lambda r: r['imports_s']):.2f} s); RSS after load {med(lambda r: r['rss_after_load_mb']['VmRSS']):,.0f} MB, "
          f"after {len(cfg['queries'])} questions {med(lambda r: r['rss_after_queries_mb']['VmRSS']):,.0f} MB, "
          f"peak {med(lambda r: r['peak_rss_mb']):,.0f} MB")
    print("\n| stage | p50 ms | p95 ms |\n|---|---|---|")
    for stage in QUERY_STAGES:
        p50, p95 = (med(lambda r, s=stage, q=q: r["latency_ms"][s][q]) for q in ("p50", "p95"))
        print(f"| {stage.removesuffix('_ms')} | {p50:.1f} | {p95:.1f} |")
    print(f"\nheadline questions: {hits}/{len(ranks)} find their own article in the top 5 "
          f"({sum(r == 1 for r in ranks)} at rank 1)")
    if args.json:
        args.json.write_text(json.dumps({"cfg": cfg, "runs": runs, "machine": machine_note()}, ensure_ascii=False, indent=1),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
