"""The reader against today's composer, cross-fitted: every XQuAD / ARCD question is answered by a
question tower that never saw its article (in any language), through the real pipeline
(retrieval, composer, abstention), and compared with READER=off on the same questions.

    python bench/eval_reader.py --run 0=data/reader/heldout-0 --run 1=data/reader/heldout-1 --epoch 3

``--run FOLD=DIR``: a training run (python -m retrieval.reader.train --train-folds ...) that held
FOLD out. Prints a table and writes --json. Near-topic: XQuAD with its last ``--holdout-articles``
articles out of the corpus (their questions have no answer there; they belong to fold 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
from pathlib import Path

from common import ROOT, SHARED_DATA

from retrieval.evaluation import Evaluator, QAItem, cached_index, read_conversations, read_qa, read_squad, squad_corpus
from retrieval.pipeline import Pipeline
from retrieval.reader.data import article_key, fold_of
from retrieval.reader.tower import load_tower
from retrieval.reader.train import export
from retrieval.settings import Settings

XQUAD_DIR = SHARED_DATA / "xquad"
ARCD = SHARED_DATA / "arcd" / "arcd-train.json"
EVAL = ROOT / "eval"


def squad_items(path: Path, source: str, questions_from: Path | None = None) -> list[tuple[int, int, QAItem]]:
    """(fold, article number, item) for every question of a SQuAD file; ``questions_from``: ask the same ids in
    another language (XQuAD), the answers staying the Arabic ones."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    other = None
    if questions_from is not None:
        other = {q["id"]: q["question"] for a in json.loads(Path(questions_from).read_text(encoding="utf-8"))["data"]
                 for p in a["paragraphs"] for q in p["qas"]}
    out = []
    for a_index, article in enumerate(data):
        key = article_key(source, a_index, article)  # the folds the towers were trained on
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                question = other[qa["id"]] if other is not None else qa["question"].strip(" -\n")
                out.append((fold_of(key), a_index, QAItem(question, sorted({a["text"] for a in qa["answers"]}))))
    return out


def seed_figures(pipeline: Pipeline) -> dict:
    """The seed sets (news the towers never saw: every fold's tower is held out for them)."""
    evaluator = Evaluator(pipeline, "hybrid", 5)
    evaluator.qa(read_qa(EVAL / "seed_qa.jsonl"))
    evaluator.unanswerable(read_qa(EVAL / "unanswerable.jsonl"))
    evaluator.conversations(read_conversations(EVAL / "conversations.jsonl"))
    m = evaluator.report.to_dict()
    return {"questions": m["n_questions"], "answer_recall": m["answer_recall"], "mean_chars": m["mean_answer_chars"],
            "abstained": round(m["abstention"]["answerable_abstained"] / max(m["n_questions"], 1), 4),
            "unanswerable_abstained": m["abstention"]["abstained_correctly"],
            "conversations": m["conversation_recall"],
            "missed": [f["question"] for f in m["failures"] if not f.get("unanswerable")]}


def figures(pipeline: Pipeline, items: list[QAItem], unanswerable: bool = False) -> dict:
    evaluator = Evaluator(pipeline, "hybrid", 5)
    if unanswerable:
        evaluator.unanswerable(items)
        r = evaluator.report
        return {"questions": r.unanswerable, "abstained": round(r.abstained_correctly / max(r.unanswerable, 1), 4)}
    evaluator.qa(items)
    m = evaluator.report.to_dict()
    return {"questions": m["n_questions"], "answer_recall": m["answer_recall"], "mean_chars": m["mean_answer_chars"],
            "abstained": round(m["abstention"]["answerable_abstained"] / max(m["n_questions"], 1), 4),
            "latency_p50_ms": m["latency_ms"]["p50"]}


def with_reader(pipeline: Pipeline, tower, reader_scale: float | None = None) -> Pipeline:
    """A pipeline on ``pipeline``'s index and embedder that reads with ``tower`` (and, given, another
    ``reader_scale`` in a copy of its composer config): ``pipeline`` itself is never changed."""
    config = pipeline.composer.config
    if reader_scale is not None:
        config = dataclasses.replace(config, reader_scale=reader_scale)
    return Pipeline(pipeline.settings, pipeline.index, pipeline.embedder, tower, composer_config=config,
                    steps=pipeline.understand.steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="FOLD=DIR of a run that held FOLD out")
    parser.add_argument("--epoch", type=int, required=True)
    parser.add_argument("--holdout-articles", type=int, default=8)
    parser.add_argument("--sets", default="xquad-ar,xquad-en,arcd,near-topic,seed")
    parser.add_argument("--limit", type=int, default=0, help="questions per fold and set (0: all)")
    parser.add_argument("--scales", default="", help="also these ComposerConfig.reader_scale values (comma-separated)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    runs = {int(k): Path(v) for k, v in (r.split("=", 1) for r in args.run)}
    tmp = Path(tempfile.mkdtemp(prefix="reader-eval-"))
    towers = {}
    for fold, run in sorted(runs.items()):
        weights = export(run, args.epoch, tmp / f"fold-{fold}" / "question-tower.safetensors", "eval")
        towers[fold] = load_tower(ROOT / "data" / "models", tmp / f"fold-{fold}" / "question-tower.safetensors")
        print(f"fold {fold}: {run} epoch {args.epoch} ({weights['parameters']:,} parameters)", file=sys.stderr)
    base = Settings(reader="off")
    sets = {}
    wanted = args.sets.split(",")
    xq = XQUAD_DIR / "xquad.ar.json"
    if "xquad-ar" in wanted or "xquad-en" in wanted:
        docs, _, _ = read_squad(xq, 0)
        settings = cached_index(squad_corpus(xq, docs, 0), base)
        if "xquad-ar" in wanted:
            sets["xquad-ar"] = (settings, squad_items(xq, "xquad"), False)
        if "xquad-en" in wanted:
            sets["xquad-en"] = (settings, squad_items(xq, "xquad", XQUAD_DIR / "other-languages" / "xquad.en.json"), False)
    if "arcd" in wanted:
        docs, _, _ = read_squad(ARCD, 0)
        sets["arcd"] = (cached_index(squad_corpus(ARCD, docs, 0), base), squad_items(ARCD, "arcd"), False)
    if "near-topic" in wanted:
        docs, _, _ = read_squad(xq, args.holdout_articles)
        first_held = len(json.loads(xq.read_text(encoding="utf-8"))["data"]) - args.holdout_articles
        held = [entry for entry in squad_items(xq, "xquad") if entry[1] >= first_held]
        sets["near-topic"] = (cached_index(squad_corpus(xq, docs, args.holdout_articles), base), held, True)
    results: dict = {}
    if "seed" in wanted:
        pipeline = Pipeline.load(cached_index(ROOT / "corpus", base))
        row = results.setdefault("seed", {}).setdefault("all", {"composer": seed_figures(pipeline)})
        for fold, tower in sorted(towers.items()):
            row[f"reader-{fold}"] = seed_figures(with_reader(pipeline, tower))
        print("seed", json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
    for name, (settings, items, unanswerable) in sets.items():
        pipeline = Pipeline.load(settings)
        for fold, tower in sorted(towers.items()):
            chosen = [item for f, _, item in items if f == fold]
            if args.limit:
                chosen = chosen[: args.limit]
            if not chosen:
                continue
            row = results.setdefault(name, {}).setdefault(str(fold), {})
            row["composer"] = figures(pipeline, chosen, unanswerable)  # READER=off: no tower
            row["reader"] = figures(with_reader(pipeline, tower), chosen, unanswerable)
            for scale in (float(v) for v in args.scales.split(",") if v):
                row[f"reader@{scale:g}"] = figures(with_reader(pipeline, tower, scale), chosen, unanswerable)
            print(name, fold, json.dumps(row), file=sys.stderr, flush=True)
    print(f"{'set':<11} {'fold':>4} {'n':>5}  composer -> reader (and other reader_scale values)")
    for name, folds in results.items():
        for fold, row in folds.items():
            key = "abstained" if "answer_recall" not in row["composer"] else "answer_recall"
            n = row["composer"]["questions"]
            cells = "   ".join(f"{variant} {v[key]:.4f}" + ("" if key == "abstained" else f" ({v['mean_chars']:.0f} ch)")
                               for variant, v in row.items())
            print(f"{name:<11} {fold:>4} {n:>5}  {cells}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
