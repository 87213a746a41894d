"""Score the QA pipeline: answer recall, passage recall@k, MRR, abstention, conversations, latency.

Examples:
    python evaluate.py --corpus corpus --qa eval/seed_qa.jsonl \\
        --unanswerable eval/unanswerable.jsonl --conversations eval/conversations.jsonl
    python evaluate.py --squad ../shared/data/xquad/xquad.ar.json --json out.json --plot recall.png
    python evaluate.py --archive data/archive/ant-500/sets/arcd_unanswerable.jsonl   # built by eval/archive.py

Indexes are cached under data/eval-cache/ per corpus and settings: a second run costs only the questions.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from retrieval.errors import RetrievalError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="evaluate.py", description=__doc__.split("\n")[0],
                                     epilog="\n".join(__doc__.split("\n")[2:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--qa", type=Path, help="QA JSONL: {question, answers, all}")
    source.add_argument("--squad", type=Path, help="SQuAD-format JSON: its paragraphs are the corpus")
    source.add_argument("--archive", type=Path, help="an archive-scale set (python -m eval.archive build): its items name "
                                                     "their corpus; answerable ones are scored as --qa, the others as --unanswerable")
    parser.add_argument("--corpus", type=Path, help="corpus folder or file (with --qa)")
    parser.add_argument("--unanswerable", type=Path, help="JSONL of questions the corpus cannot answer")
    parser.add_argument("--conversations", type=Path, help="JSONL of multi-turn conversations")
    parser.add_argument("--holdout-articles", type=int, default=0,
                        help="with --squad: leave the last N articles out of the corpus; their questions become unanswerable")
    parser.add_argument("--mode", choices=["hybrid", "bm25", "dense"], help="retrieval mode (default: MODE)")
    parser.add_argument("--k", type=int, help="passages per answer (default: TOP_K)")
    parser.add_argument("--limit", type=int, help="ask only the first N questions")
    parser.add_argument("--chunk-size", type=int, help="override CHUNK_SIZE (its own cached index)")
    parser.add_argument("--json", type=Path, dest="json_out", help="write the metrics as JSON to this file ('-' = stdout)")
    parser.add_argument("--plot", type=Path, help="PNG of passage recall against k for bm25, dense and hybrid")
    parser.add_argument("--failures", type=int, default=5, help="missed questions to print (default 5)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s: %(message)s")
    from retrieval.evaluation import (
        Evaluator,
        cached_index,
        cached_index_dir,
        read_conversations,
        read_qa,
        read_squad,
        squad_corpus,
    )
    from retrieval.pipeline import Pipeline
    from retrieval.settings import Settings

    try:
        overrides = {"chunk_size": args.chunk_size} if args.chunk_size else {}
        settings = Settings(**overrides)
        unanswerable = read_qa(args.unanswerable) if args.unanswerable else []
        if args.squad:
            docs, qa, held = read_squad(args.squad, args.holdout_articles)
            unanswerable += held
            corpus = squad_corpus(args.squad, docs, args.holdout_articles)
        elif args.archive:
            from eval.archive import read_set

            qa, held, corpus = read_set(args.archive, args.limit)
            unanswerable += held
        else:
            if not args.corpus:
                print("error: --qa needs --corpus DIR", file=sys.stderr)
                return 1
            qa, corpus = read_qa(args.qa), args.corpus
            unreviewed = [item for item in qa if not item.answers]
            if unreviewed:  # e.g. a feedback export (python -m bot --export-feedback) nobody has reviewed yet
                print(f"note: {len(unreviewed)} question(s) in {args.qa} have no reference answer and are skipped "
                      "(fill in \"answers\", or move a question the corpus cannot answer to --unanswerable)", file=sys.stderr)
                qa = [item for item in qa if item.answers]
        if args.limit:
            qa = qa[: args.limit]
        print(f"Index: {cached_index_dir(corpus, settings)} (corpus {corpus})", file=sys.stderr)
        settings = cached_index(corpus, settings)
        pipeline = Pipeline.load(settings)
        mode, k = args.mode or settings.search.mode, args.k or settings.search.top_k
        evaluator = Evaluator(pipeline, mode, k, curves=args.plot is not None)
        evaluator.qa(qa)
        evaluator.unanswerable(unanswerable)
        if args.conversations:
            evaluator.conversations(read_conversations(args.conversations))
    except (RetrievalError, OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    metrics = evaluator.report.to_dict()
    _print_table(metrics, args.failures)
    if args.plot:
        _plot(evaluator.curve_table(), metrics, args.plot)
        metrics["recall_curves"] = evaluator.curve_table()
    if args.json_out:
        text = json.dumps(metrics, ensure_ascii=False, indent=1)
        if str(args.json_out) == "-":
            print(text)
        else:
            args.json_out.write_text(text + "\n", encoding="utf-8")
    return 0


def _print_table(m: dict, n_failures: int) -> None:
    pr = m["passage_recall"]
    ab = m["abstention"]
    un = m["unsure"]
    rows = [
        ("questions", m["n_questions"]), ("mode / k", f"{m['mode']} / {m['k']}"),
        ("answer recall", f"{m['answer_recall']:.3f}"),
        ("passage recall @1/3/5/10", " / ".join(f"{pr[k]:.3f}" for k in ("1", "3", "5", "10"))),
        ("MRR@10", f"{m['mrr']:.3f}"), ("mean answer chars", m["mean_answer_chars"]),
        ("unanswerable abstained", f"{ab['abstained_correctly']}/{ab['unanswerable']}"),
        ("answerable abstained", f"{ab['answerable_abstained']}/{m['n_questions']}"),
        ("answered sure / not sure", f"{un['answered_sure']} (recall {_fmt(un['sure_recall'])}) / "
                                     f"{un['answered_unsure']} (recall {_fmt(un['unsure_recall'])})"),
        ("unanswerable abst.+flagged", f"{un['unanswerable_abstained_or_flagged']}/{un['unanswerable']} "
                                       f"({un['unanswerable_flagged']} flagged not sure)"),
        ("conversation recall", "-" if m["conversation_recall"] is None else f"{m['conversation_recall']:.3f}"),
        ("latency p50 / p95 ms", f"{m['latency_ms']['p50']} / {m['latency_ms']['p95']}"),
    ]
    for name, value in rows:
        print(f"{name:<26} {value}")
    for failure in m["failures"][:n_failures]:
        print(f"- missed: {failure['question']}  gold={failure.get('answers')}  shown={failure['shown'][:160]!r}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _plot(curves: dict[str, list[float]], metrics: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ks = list(range(1, 11))
    for mode, values in curves.items():
        ax.plot(ks, values, marker="o", label=mode)
    ax.axhline(metrics["answer_recall"], color="grey", linestyle="--", label=f"answer recall ({metrics['mode']})")
    ax.set_xlabel("k (passages)")
    ax.set_ylabel("passage recall@k")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
