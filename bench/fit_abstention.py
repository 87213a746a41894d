"""Calibrate abstention: answerability features of answerable questions (XQuAD-ar with its
article indexed, eval/seed_qa.jsonl) against unanswerable ones (XQuAD-ar questions whose
article is held out of the corpus, eval/unanswerable.jsonl); fits a logistic model and
prints the trade-off (unanswerable abstained vs answerable abstained) per threshold.

    python bench/fit_abstention.py --squad ../shared/data/xquad/xquad.ar.json --holdout-articles 8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluate import CACHE, _key, _squad_corpus  # noqa: E402
from retrieval.answer import ANSWERABILITY  # noqa: E402
from retrieval.build import build_index  # noqa: E402
from retrieval.evaluation import read_qa, read_squad  # noqa: E402
from retrieval.pipeline import Pipeline  # noqa: E402
from retrieval.settings import Settings  # noqa: E402


def pipeline_for(corpus: Path) -> Pipeline:
    settings = Settings()
    settings.index_dir = CACHE / f"index-{_key(corpus, settings)}"
    build_index(settings, corpus=corpus, index_dir=settings.index_dir,
                reuse_from=[p for p in CACHE.glob("index-*") if p != settings.index_dir])
    return Pipeline.load(settings)


def features(pipeline: Pipeline, questions: list[str]) -> np.ndarray:
    return np.array([answer_features(pipeline, q) for q in questions])


def answer_features(pipeline: Pipeline, question: str) -> list[float]:
    vector = pipeline.embedder.embed_query(question)
    passages = pipeline.retriever.search(question, k=pipeline.settings.top_k, query_vector=vector)
    return list(pipeline.composer.answerability_features(question, question, passages, vector))


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
    args = parser.parse_args()
    docs, qa, held = read_squad(args.squad, args.holdout_articles)
    xq = pipeline_for(_squad_corpus(args.squad, docs, args.holdout_articles))
    seed = pipeline_for(Path("corpus"))
    step = max(1, len(qa) // args.limit)
    sets = {
        "xquad answerable": (features(xq, [q.question for q in qa[::step]]), 1),
        "xquad held out": (features(xq, [q.question for q in held]), 0),
        "seed answerable": (features(seed, [q.question for q in read_qa(Path("eval/seed_qa.jsonl"))]), 1),
        "seed unanswerable": (features(seed, [q.question for q in read_qa(Path("eval/unanswerable.jsonl"))]), 0),
    }
    x = np.vstack([v[0] for v in sets.values()])
    y = np.concatenate([np.full(len(v[0]), v[1]) for v in sets.values()])
    # weight each set equally, so the small seed sets count as much as XQuAD
    w = fit(np.repeat(x, [max(1, 400 // len(v[0])) for v in sets.values() for _ in range(len(v[0]))], axis=0),
            np.repeat(y, [max(1, 400 // len(v[0])) for v in sets.values() for _ in range(len(v[0]))]))
    print("features:", ANSWERABILITY)
    for name, (xs, _label) in sets.items():
        print(f"{name:>20} mean", np.round(xs.mean(axis=0), 3).tolist())
    print("weights (last = bias):", np.round(w, 3).tolist())
    print(f"{'threshold':>10}" + "".join(f"{name:>20}" for name in sets))
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        cells = []
        for xs, _label in sets.values():
            p = 1 / (1 + np.exp(-(np.hstack([xs, np.ones((len(xs), 1))]) @ w)))
            cells.append(f"{np.mean(p < threshold):>19.3f}")
        print(f"{threshold:>10}" + " ".join(cells) + "   (share abstained)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
