"""Choose retrieval fusion and composer weights by measurement on a QA set (XQuAD-ar by default).

Loads (or builds) the evaluation index, embeds each question once, then sweeps settings
in memory and prints passage recall / answer recall per setting, so alternatives are
compared in one run.

    python bench/tune.py --squad ../shared/data/xquad/xquad.ar.json [--limit 400] [--what fusion|composer]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path

for _path in (str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from common import eval_set  # noqa: E402

from retrieval.answer import FEATURES, ComposerConfig, DecisionConfig  # noqa: E402
from retrieval.evaluation import QAItem, contains_gold  # noqa: E402
from retrieval.pipeline import Pipeline  # noqa: E402


def sweep_fusion(pipeline: Pipeline, qa: list[QAItem]) -> None:
    queries = [pipeline.understand(item.question) for item in qa]  # the Queries the pipeline searches with
    vectors = [pipeline.embedder.embed_query(query.searched) for query in queries]
    print(f"{'fusion':<10}{'w_dense':>8}{'w_sent':>8}{'@1':>8}{'@3':>8}{'@5':>8}{'MRR':>8}")
    settings = [("bm25", 0.0, 0.0), ("dense", 1.0, 0.0)]
    settings += [(f, w, 0.0) for f in ("weighted", "rrf") for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
    # the third signal: each chunk's best sentence-question similarity (SENTENCE_WEIGHT)
    settings += [("weighted", w, s) for w in (0.5, 0.6, 0.7) for s in (0.1, 0.2, 0.3, 0.4, 0.5)]
    settings += [("rrf", 0.7, s) for s in (0.5, 1.0)]
    for fusion, weight, sentence_weight in settings:
        hits = {1: 0, 3: 0, 5: 0}
        rr = 0.0
        mode = fusion if fusion in ("bm25", "dense") else "hybrid"
        retriever = pipeline.retriever
        if mode == "hybrid":  # a variant with a copy of the settings: the pipeline itself is never changed
            retriever = pipeline.variant(settings=pipeline.settings.with_(**{
                "fusion": fusion, "dense_weight": weight, "sentence_weight": sentence_weight})).retriever
        for item, query, vector in zip(qa, queries, vectors):
            passages = retriever.search(query, k=10, mode=mode, query_vector=vector)
            first = next((p.rank for p in passages if contains_gold(p.text, QAItem("", item.answers))), None)
            for k in hits:
                hits[k] += bool(first and first <= k)
            rr += 1 / first if first else 0
        n = len(qa)
        print(f"{fusion:<10}{weight:>8.1f}{sentence_weight:>8.1f}" + "".join(f"{hits[k] / n:>8.3f}" for k in hits)
              + f"{rr / n:>8.3f}", flush=True)


def sweep_composer(pipeline: Pipeline, qa: list[QAItem], grid: dict[str, list[float]]) -> None:
    base, decision = pipeline.composer.config, pipeline.composer.decision
    names = list(grid)
    print("  ".join(f"{n:>10}" for n in names) + f"{'recall':>8}{'chars':>8}{'abst':>6}")
    results = []
    for values in itertools.product(*(grid[n] for n in names)):
        config, decided = with_changes(base, decision, dict(zip(names, values)))
        variant = pipeline.variant(composer_config=config, decision=decided)
        hits = chars = abstained = 0
        t0 = time.perf_counter()
        for item in qa:
            answer = variant.answer(item.question)
            hits += contains_gold(answer.text, item)
            chars += len(answer.text)
            abstained += answer.abstained
        n = len(qa)
        results.append((hits / n, values))
        print("  ".join(f"{v:>10.3g}" for v in values) + f"{hits / n:>8.3f}{chars / n:>8.0f}{abstained:>6d}"
              f"   ({(time.perf_counter() - t0) / n * 1000:.1f} ms/q)", flush=True)
    best = max(results)
    print("best:", dict(zip(names, best[1])), f"recall {best[0]:.3f}")


def with_changes(config: ComposerConfig, decision: DecisionConfig,
                 changes: dict[str, float]) -> tuple[ComposerConfig, DecisionConfig]:
    """Copies of ``config`` and ``decision`` with some settings changed: a FEATURES name sets that feature's
    sentence weight, a DecisionConfig field (abstain_threshold, ...) the decision's, any other name the
    ComposerConfig field of that name."""
    decided = {f.name for f in dataclasses.fields(DecisionConfig)}
    weights = {name: value for name, value in changes.items() if name in FEATURES}
    fields = {name: value for name, value in changes.items() if name not in FEATURES and name not in decided}
    if weights:
        fields["weights"] = config.weights.replace(sentence=weights)
    return (dataclasses.replace(config, **fields),
            dataclasses.replace(decision, **{name: value for name, value in changes.items() if name in decided}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--squad", type=Path)
    parser.add_argument("--qa", type=Path)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--chunk-size", type=int)
    parser.add_argument("--what", choices=["fusion", "composer"], default="fusion")
    parser.add_argument("--weights", type=Path, help="composer weights file to start from (default: the shipped weights.json)")
    parser.add_argument("--grid", action="append", default=[],
                        help="name=v1,v2,...: a ComposerConfig or DecisionConfig field or a sentence feature ("
                             + ", ".join(FEATURES) + ")")
    args = parser.parse_args()
    pipeline, qa = eval_set(args.squad, args.qa, args.corpus, args.limit, args.chunk_size)
    if args.what == "fusion":
        sweep_fusion(pipeline, qa)
    else:
        grid = {g.split("=")[0]: [float(v) for v in g.split("=")[1].split(",")] for g in args.grid} or {"temperature": [0.3, 1.0]}
        if args.weights:
            from retrieval.answer import load_weights

            weights = load_weights(args.weights)  # both its sections: the sentence weights and the answerability model
            pipeline = pipeline.variant(composer_config=dataclasses.replace(pipeline.composer.config, weights=weights),
                                        decision=DecisionConfig.from_weights(weights))
        sweep_composer(pipeline, qa, grid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
