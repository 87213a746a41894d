"""English questions with and without the name bridge (retrieval/understand/names.py), in one run.

    python bench/eval_names.py [--lowercase] [--json out.json]

Sets: the seed questions (eval/seed_qa.jsonl, eval/unanswerable.jsonl: the English ones are counted
apart), XQuAD's English questions over its Arabic paragraphs (answer recall, answerable abstained), and the
English questions of XQuAD's last --holdout-articles articles over a corpus without them (near-topic
questions the corpus cannot answer: abstained, or flagged not sure). Nothing here is trained: every set is
held out. ``--lowercase`` asks the English questions in lower case, as people type in chats. Also times
building the bridge of --index (the archive index, when built). ``--floors 0.3,0.2,0.1,0`` instead measures
DecisionConfig.names_abstain_threshold (an English question whose names the top passages spell is abstained
on only below it), the bridge on, one row per value (0.3, the abstain threshold itself: the floor off).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import time
from pathlib import Path

from common import ROOT, SHARED_DATA
from eval_reader import squad_items

import retrieval.understand.names as latin
from retrieval.evaluation import Evaluator, QAItem, cached_index, read_qa, read_squad, squad_corpus
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

XQUAD_AR = SHARED_DATA / "xquad" / "xquad.ar.json"
XQUAD_EN = SHARED_DATA / "xquad" / "other-languages" / "xquad.en.json"


def english(items: list[QAItem], lower: bool = False) -> list[QAItem]:
    if lower:
        items = [QAItem(i.question.lower(), i.answers) for i in items]
    return [item for item in items if sum(ch.isascii() and ch.isalpha() for ch in item.question) > len(item.question) / 2]


def xquad_english(holdout: int, lower: bool = False) -> tuple[list[QAItem], list[QAItem]]:
    """XQuAD's English questions with the Arabic answers: (over kept articles, over the last ``holdout``)."""
    items = squad_items(XQUAD_AR, "xquad", XQUAD_EN)
    first_held = max(article for _, article, _ in items) + 1 - holdout
    kept, held = [], []
    for _, article, item in items:
        item = QAItem(item.question.lower(), item.answers) if lower else item
        (kept if article < first_held else held).append(item)
    return kept, held


def run(pipeline: Pipeline, answerable: list[QAItem], unanswerable: list[QAItem], bridge: bool, floor: float | None = None) -> dict:
    # a variant (the names step switched, a copy of the decision config): the pipeline itself is never changed
    decision = pipeline.composer.decision
    if floor is not None:
        decision = dataclasses.replace(decision, names_abstain_threshold=floor)
    variant = pipeline.variant(steps=dataclasses.replace(pipeline.understand.steps, names=bridge), decision=decision)
    evaluator = Evaluator(variant, "hybrid", 5)
    evaluator.qa(answerable)
    evaluator.unanswerable(unanswerable)
    m = evaluator.report.to_dict()
    u = m["unsure"]
    out = {"answerable": m["n_questions"], "unanswerable": m["abstention"]["unanswerable"]}
    if answerable:
        out |= {"answer_recall": m["answer_recall"], "passage_recall@1": m["passage_recall"]["1"],
                "answerable_abstained": m["abstention"]["answerable_abstained"], "latency_p50_ms": m["latency_ms"]["p50"]}
    if unanswerable:
        out |= {"abstained": m["abstention"]["abstained_correctly"],
                "abstained_or_flagged": u["unanswerable_abstained_or_flagged"]}
    out["failures"] = [f["question"] for f in m["failures"]]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdout-articles", type=int, default=8)
    parser.add_argument("--index", type=Path, default=ROOT / "data" / "ant", help="an index whose bridge is timed")
    parser.add_argument("--lowercase", action="store_true", help="ask every English question in lower case")
    parser.add_argument("--floors", help="comma-separated names_abstain_threshold values to compare (bridge on)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    base = Settings(reader="off")
    sets = {}
    seed = Pipeline.load(cached_index(ROOT / "corpus", base))
    qa, un = read_qa(ROOT / "eval" / "seed_qa.jsonl"), read_qa(ROOT / "eval" / "unanswerable.jsonl")
    sets["seed (all)"] = (seed, qa, un)
    sets["seed (English)"] = (seed, english(qa, args.lowercase), english(un, args.lowercase))
    kept, held = xquad_english(args.holdout_articles, args.lowercase)
    docs, _, _ = read_squad(XQUAD_AR, 0)
    sets["xquad-en"] = (Pipeline.load(cached_index(squad_corpus(XQUAD_AR, docs, 0), base)), kept + held, [])
    docs, _, _ = read_squad(XQUAD_AR, args.holdout_articles)
    sets["xquad-en near-topic"] = (Pipeline.load(cached_index(squad_corpus(XQUAD_AR, docs, args.holdout_articles), base)),
                                   [], held)
    results = {}
    for name, (pipeline, answerable, unanswerable) in sets.items():
        if args.floors:
            results[name] = {f"floor {v}": run(pipeline, answerable, unanswerable, True, float(v)) for v in args.floors.split(",")}
        else:
            results[name] = {variant: run(pipeline, answerable, unanswerable, variant == "bridge") for variant in ("off", "bridge")}
    print(f"{'set':<20} {'variant':<9} {'n':>5} {'recall':>7} {'p@1':>6} {'ans.abst':>8} {'unans':>5} {'abst':>5} {'abst+flag':>9}")
    for name, row in results.items():
        for variant, r in row.items():
            cells = [r.get(key, "") for key in ("answer_recall", "passage_recall@1", "answerable_abstained")]
            cells += [r["unanswerable"], r.get("abstained", ""), r.get("abstained_or_flagged", "")]
            widths = (7, 6, 8, 5, 5, 9)
            print(f"{name:<20} {variant:<9} {r['answerable']:>5} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    if (args.index / "manifest.json").is_file() and not args.floors:
        pipeline = Pipeline.load(base.with_(index_dir=args.index))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            latin.NameBridge(pipeline.index.backend.term_frequencies())
            times.append(time.perf_counter() - start)
        terms = len(pipeline.index.backend.term_frequencies())
        results["bridge_build"] = {"index": str(args.index), "terms": terms, "seconds_median": round(statistics.median(times), 2)}
        print(f"bridge of {args.index}: {terms:,} terms, built in {statistics.median(times):.2f} s (median of 3)")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
