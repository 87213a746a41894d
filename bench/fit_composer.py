"""Fit the composer's sentence-scoring weights on XQuAD-ar (listwise softmax over each
question's candidate sentences) and compare with the current weights on held-out articles.
``--write FILE`` saves the fitted weights in the composer's weights format (the answerability
weights are kept from ``--weights``); copy it over retrieval/answer/weights.json to ship them.

    python bench/fit_composer.py --squad ../shared/data/xquad/xquad.ar.json --chunk-size 1200 --write /tmp/weights.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

for _path in (str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from common import eval_set  # noqa: E402

from retrieval.answer import FEATURES, DecisionConfig, load_weights, save_weights  # noqa: E402
from retrieval.evaluation import QAItem, contains_gold  # noqa: E402


def collect(pipeline, qa):
    rows = []
    for item in qa:
        query = pipeline.understand(item.question)  # the Query and the passages the pipeline composes from
        vector, passages = pipeline.search(query)
        cands = pipeline.composer.candidates(passages)
        if not cands:
            rows.append((np.zeros((0, len(FEATURES))), np.zeros(0)))
            continue
        x = pipeline.composer.features(cands, passages, vector, query)
        y = np.array([contains_gold(c.text, QAItem("", item.answers)) for c in cands], dtype=float)
        rows.append((x, y))
    return rows


def loss(w, rows, l2):
    total, grad = 0.0, np.zeros_like(w)
    for x, y in rows:
        if not y.any():
            continue
        s = x @ w
        s -= s.max()
        p = np.exp(s) / np.exp(s).sum()
        gold = p[y > 0].sum()
        total -= np.log(gold + 1e-12)
        q = p * (y > 0) / (gold + 1e-12)  # posterior over gold sentences
        grad -= x.T @ (q - p)
    return total + l2 * (w @ w), grad + 2 * l2 * w


def recall(pipeline, qa, weights: np.ndarray):
    """Answer recall and mean answer length with ``weights`` (a vector in FEATURES order) as the sentence weights
    (on a variant of ``pipeline`` with a copy of its composer config: ``pipeline`` itself is never changed)."""
    config = pipeline.composer.config
    named = dict(zip(FEATURES, (float(w) for w in weights)))
    variant = pipeline.variant(composer_config=dataclasses.replace(config, weights=config.weights.replace(sentence=named)))
    hits = chars = 0
    for item in qa:
        answer = variant.answer(item.question)
        hits += contains_gold(answer.text, item)
        chars += len(answer.text)
    return hits / len(qa), chars / len(qa)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--chunk-size", type=int)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--weights", type=Path, help="weights file to start from (default: the shipped weights.json)")
    parser.add_argument("--write", type=Path, help="write the fitted weights here (the composer's weights format)")
    args = parser.parse_args()
    pipeline, qa = eval_set(squad=args.squad, chunk_size=args.chunk_size)
    start = load_weights(args.weights)
    pipeline = pipeline.variant(composer_config=dataclasses.replace(pipeline.composer.config, weights=start),
                                decision=DecisionConfig.from_weights(start))
    # split by article: the XQuAD file lists articles in order; paragraphs/questions of one article stay together
    data = json.loads(Path(args.squad).read_text(encoding="utf-8"))["data"]
    article_of = [a for a, art in enumerate(data) for p in art["paragraphs"] for _ in p["qas"]]
    train = [q for q, a in zip(qa, article_of) if a % 2 == 0]
    test = [q for q, a in zip(qa, article_of) if a % 2 == 1]
    base = np.array(start.sentence_vector, dtype=float)
    rows = collect(pipeline, train)
    fit = minimize(loss, base, args=(rows, args.l2), jac=True, method="L-BFGS-B")
    print("features:", FEATURES)
    print("current :", np.round(base, 3).tolist())
    print("fitted  :", np.round(fit.x, 3).tolist())
    for name, weights in (("current", base), ("fitted", fit.x)):
        r_train, c_train = recall(pipeline, train, weights)
        r_test, c_test = recall(pipeline, test, weights)
        print(f"{name:<8} train recall {r_train:.3f} ({c_train:.0f} chars)   test recall {r_test:.3f} ({c_test:.0f} chars)")
    if args.write:
        # the weights exactly as measured above (not the rounded ones printed)
        fitted = start.replace(sentence=dict(zip(FEATURES, (float(w) for w in fit.x))),
                               note=f"sentence: bench/fit_composer.py --squad {args.squad} --l2 {args.l2}; "
                                    f"answerability: kept from {args.weights or 'the shipped weights'}")
        save_weights(fitted, args.write)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
