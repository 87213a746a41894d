"""Calibrate abstention: answerability features of answerable questions (XQuAD-ar with its
article indexed, eval/seed_qa.jsonl) against unanswerable ones (XQuAD-ar questions whose
article is held out of the corpus, eval/unanswerable.jsonl); fits a logistic model and
prints the trade-off (unanswerable abstained vs answerable abstained) per threshold.

With --near-topic, XQuAD also gives near-topic unanswerable questions: every 4th paragraph is
left out while the rest of its article stays, and its questions whose gold answer appears
nowhere else are asked. With --no-seed-fit the seed sets are left out of the fit, so their
rows are an out-of-sample check of the fitted model. ``--write FILE`` saves the fitted model in
the composer's weights format (the sentence weights kept from ``--weights``); copy it over
retrieval/answer/weights.json to ship it.

    python bench/fit_abstention.py --squad ../shared/data/xquad/xquad.ar.json --holdout-articles 8
    python bench/fit_abstention.py --squad ../shared/data/xquad/xquad.ar.json --near-topic --no-seed-fit --write /tmp/w.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval.answer import ANSWERABILITY, load_weights, save_weights  # noqa: E402
from retrieval.evaluation import cached_index, norm_answer, read_qa, read_squad, squad_corpus  # noqa: E402
from retrieval.pipeline import Pipeline  # noqa: E402
from retrieval.settings import Settings  # noqa: E402


def pipeline_for(corpus: Path) -> Pipeline:
    return Pipeline.load(cached_index(corpus, Settings()))


def near_topic(squad: Path) -> tuple[Path, list[str], list[str]]:
    """(corpus without every 4th paragraph, its answerable questions, the left-out paragraphs'
    questions whose gold answer appears nowhere in that corpus)."""
    data = json.loads(Path(squad).read_text(encoding="utf-8"))["data"]
    docs, answerable, held = [], [], []
    paragraphs = [(a, i, art["title"], par) for a, art in enumerate(data) for i, par in enumerate(art["paragraphs"])]
    for n, (a, i, title, par) in enumerate(paragraphs):
        questions = [(q["question"], [x["text"] for x in q["answers"]]) for q in par["qas"]]
        if n % 4 == 3:
            held.extend(questions)
        else:
            docs.append({"id": f"{a:03d}-{i:02d}", "title": title.replace("_", " "), "text": par["context"]})
            answerable.extend(q for q, _ in questions)
    text = norm_answer(" ".join(d["text"] for d in docs))
    unanswerable = [q for q, golds in held if not any(norm_answer(g) in text for g in golds)]
    return squad_corpus(squad, docs, "near-topic"), answerable, unanswerable


def features(pipeline: Pipeline, questions: list[str]) -> np.ndarray:
    return np.array([answer_features(pipeline, q) for q in questions])


def answer_features(pipeline: Pipeline, question: str) -> list[float]:
    query = pipeline.understand(question)  # the Query and the passages the pipeline composes from
    vector, passages = pipeline.search(query)
    return list(pipeline.composer.answerability_features(query, passages, vector))


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-4) -> np.ndarray:
    xb = np.hstack([x, np.ones((len(x), 1))])

    def loss(w):
        z = xb @ w
        p = 1 / (1 + np.exp(-z))
        eps = 1e-9
        value = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + l2 * (w[:-1] @ w[:-1])
        grad = xb.T @ (p - y) / len(y) + 2 * l2 * np.append(w[:-1], 0)
        return value, grad

    return minimize(loss, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 5000}).x


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--holdout-articles", type=int, default=8)
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--near-topic", action="store_true", help="add XQuAD paragraph-holdout sets")
    parser.add_argument("--no-seed-fit", action="store_true", help="fit without the seed sets (they become a check)")
    parser.add_argument("--weights", type=Path, help="weights file to compare with and keep the sentence weights of "
                                                     "(default: the shipped weights.json)")
    parser.add_argument("--write", type=Path, help="write the fitted model here (the composer's weights format)")
    args = parser.parse_args()
    shipped = load_weights(args.weights)
    docs, qa, held = read_squad(args.squad, args.holdout_articles)
    xq = pipeline_for(squad_corpus(args.squad, docs, args.holdout_articles))
    seed = pipeline_for(Path("corpus"))
    step = max(1, len(qa) // args.limit)
    sets = {
        "xquad answerable": (features(xq, [q.question for q in qa[::step]]), 1),
        "xquad held out": (features(xq, [q.question for q in held]), 0),
        "seed answerable": (features(seed, [q.question for q in read_qa(Path("eval/seed_qa.jsonl"))]), 1),
        "seed unanswerable": (features(seed, [q.question for q in read_qa(Path("eval/unanswerable.jsonl"))]), 0),
    }
    if args.near_topic:
        corpus, answerable, unanswerable = near_topic(args.squad)
        near = pipeline_for(corpus)
        sets["near-topic answerable"] = (features(near, answerable[::step]), 1)
        sets["near-topic unanswerable"] = (features(near, unanswerable), 0)
    fitted = {name: v for name, v in sets.items() if not (args.no_seed_fit and name.startswith("seed"))}
    x = np.vstack([v[0] for v in fitted.values()])
    y = np.concatenate([np.full(len(v[0]), v[1]) for v in fitted.values()])
    # weight each set equally, so the small seed sets count as much as XQuAD
    repeats = [max(1, 400 // len(v[0])) for v in fitted.values() for _ in range(len(v[0]))]
    w = fit(np.repeat(x, repeats, axis=0), np.repeat(y, repeats))
    print("features:", ANSWERABILITY)
    for name, (xs, _label) in sets.items():
        print(f"{name:>20} mean", np.round(xs.mean(axis=0), 3).tolist())
    print("fitted weights:", {name: round(float(v), 3) for name, v in zip(ANSWERABILITY, w)}, "bias:", round(float(w[-1]), 3))
    print(f"{'threshold':>10}" + "".join(f"{name:>25}" for name in sets))
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        cells = []
        for xs, _label in sets.values():
            p = 1 / (1 + np.exp(-(np.hstack([xs, np.ones((len(xs), 1))]) @ w)))
            cells.append(f"{np.mean(p < threshold):>24.3f}")
        print(f"{threshold:>10}" + " ".join(cells) + "   (share abstained)")
    # the shipped model on a variant of the seed pipeline (the pipeline itself is never changed)
    current = seed.variant(decision=dataclasses.replace(seed.composer.decision, answerability=shipped.answerability,
                                                        answerability_bias=shipped.answerability_bias)).composer
    cells = [f"{np.mean([current.answerability(row) < current.decision.abstain_threshold for row in xs]):>24.3f}"
             for xs, _label in sets.values()]
    print(f"{'shipped':>10}" + " ".join(cells) + f"   ({args.weights or 'weights.json'} at {current.decision.abstain_threshold})")
    if args.write:
        flags = " ".join(f for f, on in (("--near-topic", args.near_topic), ("--no-seed-fit", args.no_seed_fit)) if on)
        fitted = shipped.replace(answerability=dict(zip(ANSWERABILITY, (float(v) for v in w[:-1]))), answerability_bias=float(w[-1]),
                                 note=f"answerability: bench/fit_abstention.py --squad {args.squad} --holdout-articles "
                                      f"{args.holdout_articles} --limit {args.limit} {flags}".rstrip()
                                      + f"; sentence: kept from {args.weights or 'the shipped weights'}")
        save_weights(fitted, args.write)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
