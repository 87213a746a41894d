"""Calibrate the "not sure" band: between DecisionConfig.abstain_threshold and an upper edge
(DecisionConfig.unsure_below) the bot answers but leads with messages.UNSURE. This measures
where that edge should sit.

Every question of the sets below is asked through the pipeline as evaluate.py asks it (the
Evaluator), with abstention turned off, so each one gets its answerability probability
(Answer.confidence) and whether the shown text holds the gold answer:

    seed         eval/seed_qa.jsonl (answerable) and eval/unanswerable.jsonl over corpus/
    xquad        XQuAD-ar, the last --holdout-articles articles left out of the corpus (their
                 questions are the near-topic unanswerable ones)
    arcd         ARCD-train (answerable)

Then, per edge candidate: how many answerable questions are answered sure / not sure / abstained,
how often the sure and the not-sure answers hold the gold (precision), and how many unanswerable
questions are abstained or flagged. Two criteria pick an edge, both printed:

    unanswerable  the lowest edge at which --target (0.9) of the unanswerable questions are
                  abstained or flagged: the issue's target, "abstained (or flagged as not-sure)"
    precision     the lowest edge at which the sure answers to the pooled answerable questions
                  hold the gold at least --target-precision (0.9) of the time

Folds make the figures held out: each set is split in two (by article for XQuAD and ARCD, odd /
even questions for the seed sets), the edge is chosen on one half and measured on the other, both
ways. The suggested edge (--criterion, default unanswerable) is the lowest that meets the target
on both halves and on all rows.

READER, EMBEDDER and the rest come from the environment as for evaluate.py, so the same command
re-measures the band with the reader on or off. ``--rows FILE`` keeps the per-question figures;
``--from-rows FILE`` re-reads them instead of asking again.

    READER=off python bench/fit_unsure.py --rows /tmp/unsure-rows.jsonl
    python bench/fit_unsure.py --from-rows /tmp/unsure-rows.jsonl --criterion precision
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.answer import DecisionConfig  # noqa: E402
from retrieval.evaluation import Evaluator, QAItem, cached_index, read_qa, read_squad, squad_corpus  # noqa: E402
from retrieval.pipeline import Pipeline  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

XQUAD = ROOT.parent / "shared" / "data" / "xquad" / "xquad.ar.json"
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd-train.json"


@dataclass
class Row:
    """One question asked: its set, fold (0/1), whether the corpus answers it, the answerability
    probability and whether the shown text holds the gold answer."""

    set: str
    fold: int
    answerable: bool
    probability: float
    hit: bool
    question: str


def squad_articles(path: Path, holdout: int) -> tuple[list[tuple[int, QAItem]], list[tuple[int, QAItem]]]:
    """(article index, question) of the kept articles and of the held-out ones, in read_squad's order."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    keep = len(data) - holdout
    kept, held = [], []
    for a_index, article in enumerate(data):
        for paragraph in article["paragraphs"]:
            for q in paragraph["qas"]:
                item = QAItem(q["question"], sorted({a["text"] for a in q["answers"]}))
                (kept if a_index < keep else held).append((a_index, item))
    return kept, held


def ask_all(pipeline: Pipeline, name: str, items: list[tuple[int, QAItem]], answerable: bool) -> list[Row]:
    """Ask every question with abstention off; the fold of an item is its group's parity."""
    evaluator = Evaluator(pipeline, pipeline.settings.search.mode, pipeline.settings.search.top_k)
    rows = []
    started = time.perf_counter()
    for group, item in items:
        answer, hit = evaluator.ask(item)
        # no candidate sentence at all: nothing to be sure of (the composer abstains before scoring)
        probability = answer.confidence if answer.confidence is not None else 0.0
        rows.append(Row(name, group % 2, answerable, probability, bool(hit and answerable), item.question))
    print(f"  {name}: {len(rows)} questions in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return rows


def open_band(settings: Settings) -> Pipeline:
    pipeline = Pipeline.load(settings)
    # every question answered, none flagged: the probability and the hit are measured for all (a copy of the
    # decision config: the loaded pipeline itself is never changed)
    return pipeline.variant(decision=dataclasses.replace(pipeline.composer.decision, abstain_threshold=0.0, unsure_below=0.0))


def collect(holdout: int, limit: int | None) -> list[Row]:
    settings = Settings()
    print(f"READER={settings.answer.reader} EMBEDDER={settings.embedder.embedder} mode={settings.search.mode} k={settings.search.top_k}",
          file=sys.stderr)
    rows: list[Row] = []
    seed = open_band(cached_index(ROOT / "corpus", settings))
    numbered = lambda items: list(enumerate(items[:limit]))  # noqa: E731  (questions alternate between folds)
    rows += ask_all(seed, "seed", numbered(read_qa(ROOT / "eval" / "seed_qa.jsonl")), True)
    rows += ask_all(seed, "seed-unanswerable", numbered(read_qa(ROOT / "eval" / "unanswerable.jsonl")), False)
    docs, _, _ = read_squad(XQUAD, holdout)
    xquad = open_band(cached_index(squad_corpus(XQUAD, docs, holdout), settings))
    kept, held = squad_articles(XQUAD, holdout)
    rows += ask_all(xquad, "xquad", kept[:limit], True)
    rows += ask_all(xquad, "xquad-heldout", held[:limit], False)
    docs, _, _ = read_squad(ARCD, 0)
    arcd = open_band(cached_index(squad_corpus(ARCD, docs, 0), settings))
    rows += ask_all(arcd, "arcd", squad_articles(ARCD, 0)[0][:limit], True)
    return rows


# ---------------------------------------------------------------- analysis

CRITERIA = ("unanswerable", "precision")


def band_figures(rows: list[Row], low: float, edge: float) -> dict:
    """What an edge does to ``rows``. Precision is over every answer shown in a group (an
    unanswerable question answered counts as wrong); ``answerable_precision`` over the answerable ones."""
    ans = [r for r in rows if r.answerable]
    una = [r for r in rows if not r.answerable]

    def rate(group):
        return float(np.mean([r.hit for r in group])) if group else float("nan")

    sure = [r for r in rows if r.probability >= edge]
    band = [r for r in rows if low <= r.probability < edge]
    out = [r for r in ans if r.probability < low]
    una_caught = sum(r.probability < edge for r in una)
    return {"edge": edge, "answerable": len(ans), "sure": sum(r.answerable for r in sure), "sure_precision": rate(sure),
            "answerable_precision": rate([r for r in sure if r.answerable]),
            "unsure": sum(r.answerable for r in band), "unsure_precision": rate(band), "abstained": len(out),
            "abstained_had_gold": rate(out), "unanswerable": len(una), "una_abstained": sum(r.probability < low for r in una),
            "una_flagged": sum(low <= r.probability < edge for r in una),
            "una_caught": una_caught / len(una) if una else float("nan")}


def suggest(rows: list[Row], low: float, edges: list[float], criterion: str, target: float) -> float:
    """The lowest edge meeting ``criterion``: "unanswerable" -- at least ``target`` of the unanswerable
    questions abstained or flagged; "precision" -- the sure answers to answerable questions hold the
    gold at least ``target`` of the time."""
    for edge in edges:
        f = band_figures(rows, low, edge)
        value = f["una_caught"] if criterion == "unanswerable" else f["answerable_precision"]
        if value >= target:  # nan (no such rows) never meets it
            return edge
    return edges[-1]


def print_table(title: str, rows: list[Row], low: float, edges: list[float]) -> None:
    print(f"\n{title}")
    print(f"{'edge':>6} {'sure':>6} {'prec':>6} {'(ans)':>6} {'unsure':>7} {'prec':>6} {'abst':>5} {'(gold)':>6}   "
          "unanswerable: abstained + flagged")
    for edge in edges:
        f = band_figures(rows, low, edge)
        print(f"{edge:>6.3f} {f['sure']:>6} {f['sure_precision']:>6.3f} {f['answerable_precision']:>6.3f} {f['unsure']:>7} "
              f"{f['unsure_precision']:>6.3f} {f['abstained']:>5} {f['abstained_had_gold']:>6.3f}   "
              f"{f['una_abstained']:>5} + {f['una_flagged']:>3} of {f['unanswerable']:<4} = {f['una_caught']:.3f}")


def describe(f: dict) -> str:
    return (f"edge {f['edge']:.3f}: answerable sure {f['sure']} (gold {f['answerable_precision']:.3f}), not sure "
            f"{f['unsure']}, abstained {f['abstained']} of {f['answerable']}; answers in the band hold the gold "
            f"{f['unsure_precision']:.3f}, above it {f['sure_precision']:.3f}; unanswerable abstained or flagged "
            f"{f['una_abstained'] + f['una_flagged']}/{f['unanswerable']} ({f['una_caught']:.3f})")


def report(rows: list[Row], low: float, edges: list[float], targets: dict[str, float], criterion: str) -> None:
    sets = list(dict.fromkeys(r.set for r in rows))
    print(f"abstain below {low}; sure = probability >= edge, not sure (flagged) = between. prec: share of the answers "
          "shown (unanswerable ones count as wrong) whose text holds the gold; (ans): the same over answerable questions")
    print("questions: " + ", ".join(f"{name} {sum(r.set == name for r in rows)}" for name in sets))
    print_table("pooled (every set)", rows, low, edges[::2])
    for name in sets:
        print_table(name, [r for r in rows if r.set == name], low, edges[::2])
    for name in CRITERIA:
        print(f"\ncriterion {name} (target {targets[name]}): edge chosen on one fold, measured on the other")
        for fold in (0, 1):
            edge = suggest([r for r in rows if r.fold != fold], low, edges, name, targets[name])
            print(f"  fold {fold}: " + describe(band_figures([r for r in rows if r.fold == fold], low, edge)))
        edge = suggest(rows, low, edges, name, targets[name])
        print("  all rows: " + describe(band_figures(rows, low, edge)))
    # the lowest edge that meets the target on each fold and on all rows: one fold's articles
    # alone can need a higher edge than the pool (XQuAD's held-out articles differ a lot)
    edge = max(suggest(part, low, edges, criterion, targets[criterion])
               for part in (rows, [r for r in rows if r.fold == 0], [r for r in rows if r.fold == 1]))
    print(f"\nsuggested unsure_below ({criterion}, met on both folds and on all rows): {edge:.3f}")
    print("  " + describe(band_figures(rows, low, edge)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holdout-articles", type=int, default=8, help="XQuAD articles left out (near-topic unanswerable)")
    parser.add_argument("--limit", type=int, help="ask only the first N questions of each set (a quick look)")
    parser.add_argument("--criterion", choices=CRITERIA, default="unanswerable",
                        help="what picks the suggested edge (default: unanswerable; both are printed)")
    parser.add_argument("--target", type=float, default=0.9,
                        help="share of unanswerable questions abstained or flagged the edge must reach (default 0.9)")
    parser.add_argument("--target-precision", type=float, default=0.9,
                        help="precision the sure answers to answerable questions must reach (default 0.9)")
    parser.add_argument("--abstain", type=float, default=DecisionConfig.abstain_threshold,
                        help="the abstention threshold below the band (default: the shipped one)")
    parser.add_argument("--step", type=float, default=0.025, help="spacing of the edge candidates (tables: every other)")
    parser.add_argument("--rows", type=Path, help="write the per-question rows here (JSON Lines)")
    parser.add_argument("--from-rows", type=Path, help="analyse rows written by --rows instead of asking")
    args = parser.parse_args()
    if args.from_rows:
        lines = args.from_rows.read_text(encoding="utf-8").splitlines()
        rows = [Row(**json.loads(line)) for line in lines if line.strip()]
    else:
        rows = collect(args.holdout_articles, args.limit)
    if args.rows:
        args.rows.write_text("".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    edges = [round(float(e), 4) for e in np.arange(args.abstain, 0.9501, args.step)]
    report(rows, args.abstain, edges, {"unanswerable": args.target, "precision": args.target_precision}, args.criterion)
    return 0


if __name__ == "__main__":
    sys.exit(main())
