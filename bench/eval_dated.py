"""Dated questions: how often a right article is among the top 5 retrieved, with and without the
date handling (retrieval/understand/timeframe.py, the retriever's DateBias), on an index (--index-dir).

Each question goes through the pipeline's own stages (Understand's Query, then ``Retriever.search``), as
``Pipeline.answer`` does, without composing; each variant is a copy (Understand's steps switched, a Retriever
with its weights), never a change to the pipeline. The articles are the distinct articles of the passages in
rank order. "without" asks the same Query without its dates (its words alone). ``--sweep`` adds the
alternatives the defaults were chosen from (a filter instead of a boost, other weights, the time phrase kept in the query), all in one run.

    python bench/eval_dated.py --index-dir data/ant                                 # the archive
    python bench/eval_dated.py --index-dir data/ant-sub1k --questions data/dated-sub1k.jsonl --sweep
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.pipeline import Pipeline  # noqa: E402
from retrieval.search.retriever import Retriever  # noqa: E402
from retrieval.search.signals.base import weights_from  # noqa: E402
from retrieval.search.signals.recency import WINDOW as RECENT_WINDOW  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.understand.query import Query  # noqa: E402
from retrieval.understand.understander import Understander  # noqa: E402

PERIOD_BOOST = Settings.default("period_weight")
RECENT_WEIGHT = Settings.default("recency_weight")

KINDS = ("month", "day", "latest")
TOP_ARTICLES = 5
PASSAGES = 40  # enough passages for 5 distinct articles


@dataclass(frozen=True)
class Variant:
    name: str
    dates: bool = True
    boost: float = PERIOD_BOOST
    recent: float = RECENT_WEIGHT
    filter: bool = False
    strip: bool = True
    window: float = RECENT_WINDOW


DEFAULTS = [Variant("without date handling", dates=False, strip=False),
            Variant(f"with (boost {PERIOD_BOOST}, recent {RECENT_WEIGHT}, phrase stripped)")]
SWEEP = [
    Variant("filter to the period", filter=True),
    Variant("boost 0.3", boost=0.3), Variant("boost 0.5", boost=0.5), Variant("boost 2.0", boost=2.0),
    Variant("recent 0.3 over every candidate", recent=0.3, window=1.0),
    Variant("recent 1.0 over every candidate", recent=1.0, window=1.0),
    Variant("recent 1.0 within 0.3 of the best", recent=1.0, window=0.3),
    Variant("recent 2.0", recent=2.0),
    Variant("phrase kept in the query", strip=False),
    Variant("without date handling, phrase stripped", dates=False, strip=True),
]


def read_questions(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def searcher(pipeline: Pipeline, variant: Variant) -> tuple[Understander, Retriever]:
    """The Understand and Search of ``variant``: copies on ``pipeline``'s index (the pipeline itself is never changed)."""
    settings = pipeline.settings
    weights = {**weights_from(settings), "period": variant.boost, "recency": variant.recent}
    retriever = Retriever(pipeline.index, pipeline.embedder, fusion=settings.search.fusion, weights=weights, period_filter=variant.filter)
    retriever.signals["recency"].window = variant.window  # this copy's own signal
    return pipeline.understand.with_steps(strip_time=variant.strip), retriever


def query_of(understand: Understander, question: str, variant: Variant) -> Query:
    """``question`` as ``variant`` searches it: without date handling, the words alone (with ``strip``: the time
    phrase taken out all the same)."""
    query = understand(question)
    return query if variant.dates else dataclasses.replace(query, dates=None)


def top_articles(understand: Understander, retriever: Retriever, question: str, variant: Variant, mode: str,
                 vectors: dict) -> list[str]:
    """The first TOP_ARTICLES distinct article ids for ``question`` under ``variant``."""
    query = query_of(understand, question, variant)
    if query.searched not in vectors:
        vectors[query.searched] = retriever.embedder.embed_query(query.searched)
    passages = retriever.search(query, k=PASSAGES, mode=mode, query_vector=vectors[query.searched])
    seen: list[str] = []
    for passage in passages:
        if passage.doc_id not in seen:
            seen.append(passage.doc_id)
    return seen[:TOP_ARTICLES]


def evaluate(pipeline: Pipeline, questions: list[dict], variants: list[Variant], mode: str = "hybrid") -> dict:
    """Per variant and kind: questions asked, hits in the top 5 articles; questions whose gold
    articles are not in the index are skipped (counted)."""
    known = {doc.id for doc in pipeline.documents()}
    asked = [q for q in questions if any(g in known for g in q["gold"])]
    vectors: dict = {}
    results: dict = {"asked": len(asked), "skipped": len(questions) - len(asked), "variants": {}}
    for question in asked:  # every query embedded first: the timings are retrieval alone
        for strip in (True, False):
            text = pipeline.understand.with_steps(strip_time=strip)(question["question"]).searched
            if text not in vectors:
                vectors[text] = pipeline.embedder.embed_query(text)
    for variant in variants:
        understand, retriever = searcher(pipeline, variant)
        hits = {kind: [0, 0] for kind in KINDS}
        started = time.perf_counter()
        for question in asked:
            found = top_articles(understand, retriever, question["question"], variant, mode, vectors)
            row = hits[question["kind"]]
            row[0] += any(g in found for g in question["gold"])
            row[1] += 1
        results["variants"][variant.name] = {
            "hits": hits, "ms_per_question": (time.perf_counter() - started) * 1000 / max(1, len(asked))}
    return results


def table(results: dict) -> str:
    lines = ["| variant | month | day | latest | all | ms / question |", "|---|---|---|---|---|---|"]
    for name, row in results["variants"].items():
        cells = []
        for kind in KINDS:
            hit, total = row["hits"][kind]
            cells.append(f"{hit / total:.3f} ({hit}/{total})" if total else "–")
        hit = sum(row["hits"][k][0] for k in KINDS)
        total = sum(row["hits"][k][1] for k in KINDS)
        cells.append(f"**{hit / total:.3f}** ({hit}/{total})" if total else "–")
        cells.append(f"{row['ms_per_question']:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Example: python bench/eval_dated.py --index-dir data/ant --sweep")
    parser.add_argument("--index-dir", type=Path, required=True, help="an index of ANT articles")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dated_questions.jsonl")
    parser.add_argument("--mode", default="hybrid", choices=("hybrid", "bm25", "dense"))
    parser.add_argument("--sweep", action="store_true", help="also the alternatives (filter, weights, phrase kept)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    from retrieval.errors import RetrievalError
    from retrieval.settings import Settings
    try:
        pipeline = Pipeline.load(Settings(index_dir=args.index_dir))
    except RetrievalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    questions = read_questions(args.questions)
    results = evaluate(pipeline, questions, DEFAULTS + (SWEEP if args.sweep else []), args.mode)
    print(f"{args.questions.name} on {args.index_dir} ({len(pipeline.documents())} articles, mode {args.mode}): "
          f"{results['asked']} questions asked, {results['skipped']} skipped (gold not in the index); "
          f"a right article among the top {TOP_ARTICLES}:\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
