"""Fit the answer decision that reads the question's need (retrieval/answer/need.py) on the archive-scale sets.

    python bench/fit_need.py extract [--n 1000] [--full]   # the pipeline over the sets -> data/archive/ant-<n>/need/<set>.jsonl
    python bench/fit_need.py fit [--n 1000] [--write]        # cross-fitted tables (stdout, markdown); --write: need_weights.json

``extract`` asks every question of the sets (seed, dialect, news, ARCD, XQuAD-ar and XQuAD-en: their every-6th
_s200 samples, or all with ``--full``) as Pipeline.answer does (Understand, Search, Compose with default settings),
but composes with the abstention turned off (abstain_threshold 0), so every question has the answer it would show
and whether that holds the gold. Today's decision is recomputed from the answerability probability exactly as
answer/decide.py takes it (nothing_to_read, the names floor, abstain 0.3, unsure band 0.5). It also keeps the
need features (answer/need.py) and the answerability row. Resumable: a set already extracted is skipped.

``fit``: label = answerable and the shown answer holds the gold (1), unanswerable (0); answerable questions whose
answer misses the gold count 0 too (a sure answer without the gold is what the precision target forbids). A
logistic regression (scikit-learn, standardised features, every set weighted equally) over the answerability
logit, the Latin share and the need features, cross-fitted by the items' fold (5 folds by article): each fold is
scored by a model fitted on the other four, with thresholds chosen on those four's out-of-fold probabilities
(an inner cross-fit over them). The thresholds: the unsure edge
is the lowest at which the unanswerable questions answered sure are at most ``--sure-unanswerable`` (set-weighted
mean); the abstain threshold the highest below it at which at most ``--lost`` of the good answers are abstained
on. Questions refused or decided by rule (nothing_to_read, no sentences) stay abstained in both.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETS = ["seed_answerable", "seed_unanswerable", "dialect_answerable", "dialect_unanswerable", "news_unanswerable",
        "arcd_answerable", "arcd_unanswerable", "xquad_ar_answerable", "xquad_ar_unanswerable",
        "xquad_en_answerable", "xquad_en_unanswerable"]
BASE_FEATURES = ("answerability_logit", "latin")
WEIGHTS_PATH = ROOT / "retrieval" / "answer" / "need_weights.json"


def _sample(name: str, full: bool) -> str:
    return name if full or not name.startswith("xquad") else name + "_s200"


def extract(base: Path, full: bool) -> None:
    from retrieval.answer.decide import names_spelled
    from retrieval.answer.need import NeedSentence, need_features
    from retrieval.answer.scoring import FEATURES, answerability_row, question_idf
    from retrieval.evaluation import QAItem, cached_index, contains_gold
    from retrieval.pipeline import Pipeline
    from retrieval.settings import Settings
    from retrieval.text.arabic import stem

    out_dir = base / "need"
    out_dir.mkdir(exist_ok=True)
    pipelines: dict[Path, Pipeline] = {}
    dense_col = FEATURES.index("dense")
    for name in SETS:
        set_name = _sample(name, full)
        out = out_dir / f"{set_name}.jsonl"
        path = base / "sets" / f"{set_name}.jsonl"
        if out.is_file() or not path.is_file():
            continue
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        corpus = (path.parent / rows[0]["corpus"]).resolve()
        if corpus not in pipelines:
            settings = cached_index(corpus, Settings())
            pipeline = Pipeline.load(settings)
            cfg = dataclasses.replace(pipeline.composer.config, abstain_threshold=0.0, names_abstain_threshold=0.0)
            pipelines[corpus] = pipeline.variant(composer_config=cfg)
        pipeline = pipelines[corpus]
        composer, index = pipeline.composer, pipeline.index
        sentence_weights = composer.config.weights.sentence_vector
        started, lines = time.perf_counter(), []
        for r in rows:
            item = QAItem(r["question"], r["answers"], r.get("all", False))
            rec = {"id": r["id"], "set": name, "fold": r["fold"], "answerable": r["answerable"], "question": r["question"]}
            query = pipeline.understand(r["question"])
            if not query.searchable:
                lines.append({**rec, "rule": "refused"})
                continue
            query_vector, passages = pipeline.search(query)
            answer = composer.compose(query, passages, query_vector)
            cands = composer.candidates(passages)
            if answer.abstained or not cands:  # decided by rule: nothing_to_read, no sentences
                lines.append({**rec, "rule": answer.reason or "abstained"})
                continue
            idf = question_idf(index, set(query.stems))
            feats = composer.features(cands, passages, query_vector, query, idf)
            row = answerability_row(feats, passages, query, idf)
            probability = float(composer.answerability(row))
            scores = feats @ sentence_weights
            sentences = [NeedSentence(c.text, frozenset(c.stems), c.sentence_index, c.doc_index, c.passage.rank,
                                      float(c.passage.score), float(feats[i, dense_col]), float(scores[i]))
                         for i, c in enumerate(cands)]
            names = {stem(t[1:]) if t.startswith("=") else t for t in query.name_terms}
            need = need_features(query.answer_type, idf, names, sentences)
            spelled = names_spelled(query, cands)
            if probability < 0.3 and not (spelled and probability >= 0.2):
                before = "abstained"
            else:
                before = "unsure" if probability < 0.5 else "sure"
            lines.append({**rec, "rule": None, "probability": probability, "latin": float(query.latin_share),
                          "names_spelled": spelled, "before": before, "hit": bool(r["answerable"] and contains_gold(answer.text, item)),
                          "need": need, "row": [float(x) for x in row]})
        out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
        print(f"{set_name}: {len(lines)} questions in {time.perf_counter() - started:.0f} s", flush=True)


# ---------------------------------------------------------------- fit


def load_rows(base: Path, full: bool) -> list[dict]:
    rows = []
    for name in SETS:
        path = base / "need" / f"{_sample(name, full)}.jsonl"
        if path.is_file():
            rows += [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return rows


def matrix(rows: list[dict], columns: list[str]) -> np.ndarray:
    def value(r: dict, c: str) -> float:
        if c == "answerability_logit":
            p = min(max(r["probability"], 1e-6), 1 - 1e-6)
            return float(np.log(p / (1 - p)))
        return float(r["latin"] if c == "latin" else r["need"][c])

    return np.array([[value(r, c) for c in columns] for r in rows])


def set_weights(rows: list[dict]) -> np.ndarray:
    """Every (set, answerable) group weighs the same in all."""
    counts: dict[tuple, int] = {}
    for r in rows:
        counts[(r["set"], r["answerable"])] = counts.get((r["set"], r["answerable"]), 0) + 1
    w = np.array([1.0 / counts[(r["set"], r["answerable"])] for r in rows])
    return w * len(rows) / w.sum()


def fit_model(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float, kind: str = "logistic"):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    if kind == "gbm":  # comparison only: the shipped model is the logistic one (JSON, read with numpy)
        from sklearn.ensemble import HistGradientBoostingClassifier

        return scaler, HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                                      random_state=0).fit(scaler.transform(x), y, sample_weight=w)
    model = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x), y, sample_weight=w)
    return scaler, model


def choose_thresholds(q: np.ndarray, rows: list[dict], sure_unanswerable: float, lost: float) -> tuple[float, float]:
    """(abstain, unsure edge) on training rows' probabilities ``q`` (see the module's docstring)."""
    un_groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if not r["answerable"]:
            un_groups.setdefault(r["set"], []).append(i)
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    edge = grid[-1]
    for t in grid:
        if np.mean([np.mean(q[idx] >= t) for idx in un_groups.values()]) <= sure_unanswerable:
            edge = t
            break
    good_groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if r["answerable"] and r["hit"]:
            good_groups.setdefault(r["set"], []).append(i)
    abstain = 0.0
    for t in grid[grid <= edge]:
        if good_groups and np.mean([np.mean(q[idx] < t) for idx in good_groups.values()]) > lost:
            break
        abstain = float(t)
    return abstain, float(edge)


def decisions(q: np.ndarray, abstain: float, edge: float) -> list[str]:
    return ["abstained" if p < abstain else "unsure" if p < edge else "sure" for p in q]


def crossfit(rows: list[dict], columns: list[str], args) -> tuple[list[str], list[tuple[float, float]], float]:
    """The cross-fitted decision of every row the model decides, the thresholds of each fold and the AUC."""
    from sklearn.metrics import roc_auc_score

    x = matrix(rows, columns)
    y = np.array([int(r["answerable"] and r["hit"]) for r in rows])
    w = set_weights(rows)
    folds = np.array([r["fold"] for r in rows])
    q = np.zeros(len(rows))
    out = [""] * len(rows)
    thresholds = []
    for f in sorted(set(folds)):
        train, test = folds != f, folds == f
        scaler, model = fit_model(x[train], y[train], w[train], args.c, args.model)
        # the thresholds on out-of-fold probabilities of the training folds (an inner cross-fit), never in-sample
        q_train = np.zeros(int(train.sum()))
        inner = folds[train]
        for g in sorted(set(inner)):
            sc, m = fit_model(x[train][inner != g], y[train][inner != g], w[train][inner != g], args.c, args.model)
            q_train[inner == g] = m.predict_proba(sc.transform(x[train][inner == g]))[:, 1]
        tr_rows = [r for r, keep in zip(rows, train) if keep]
        abstain, edge = choose_thresholds(q_train, tr_rows, args.sure_unanswerable, args.lost)
        thresholds.append((abstain, edge))
        q[test] = model.predict_proba(scaler.transform(x[test]))[:, 1]
        for i, d in zip(np.flatnonzero(test), decisions(q[test], abstain, edge)):
            out[i] = d
    return out, thresholds, float(roc_auc_score(y, q))


def table(rows: list[dict], before: list[str], after: list[str]) -> list[str]:
    lines = ["| set | answerable: n | sure before | precision before | sure after | precision after | not sure after "
             "| abstained after | unanswerable: n | abst. / flagged / sure before | abst. / flagged / sure after |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups = [s.rsplit("_", 1)[0] for s in SETS if s.endswith("_unanswerable")]
    for group in groups:
        cells = [group] + [""] * 10
        for answerable in (True, False):
            idx = [i for i, r in enumerate(rows) if r["set"].rsplit("_", 1)[0] == group and r["answerable"] == answerable]
            if not idx:
                continue
            n = len(idx)

            def share(ds, kind, idx=idx, n=n):
                return sum(ds[i] == kind for i in idx) / n

            if answerable:
                cells[1] = str(n)
                for col, ds in ((2, before), (4, after)):
                    sure = [i for i in idx if ds[i] == "sure"]
                    cells[col] = f"{100 * len(sure) / n:.0f} %"
                    cells[col + 1] = f"{sum(rows[i]['hit'] for i in sure) / len(sure):.3f}" if sure else "-"
                cells[6] = f"{100 * share(after, 'unsure'):.0f} %"
                cells[7] = f"{100 * share(after, 'abstained'):.0f} %"
            else:
                cells[8] = str(n)
                for col, ds in ((9, before), (10, after)):
                    cells[col] = " / ".join(f"{100 * share(ds, k):.0f} %" for k in ("abstained", "unsure", "sure"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary(rows: list[dict], ds: list[str]) -> dict[str, float]:
    """Set-weighted means: unanswerable answered sure, answerable answered sure, precision of sure (pooled)."""
    by: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        by.setdefault((r["set"], r["answerable"]), []).append(i)
    un = [np.mean([ds[i] == "sure" for i in idx]) for (_, a), idx in by.items() if not a]
    an = [np.mean([ds[i] == "sure" for i in idx]) for (_, a), idx in by.items() if a]
    sure = [i for i, r in enumerate(rows) if r["answerable"] and ds[i] == "sure"]
    worst = max(un) if un else 0.0
    return {"unanswerable_sure": float(np.mean(un)), "worst_unanswerable_sure": float(worst),
            "answerable_sure": float(np.mean(an)), "precision": float(np.mean([rows[i]["hit"] for i in sure])) if sure else 0.0}


def run_fit(args) -> int:
    from retrieval.answer.need import NEED_FEATURES, NEED_GROUPS

    base = ROOT / "data" / "archive" / f"ant-{args.n}"
    every = load_rows(base, args.full)
    if not every:
        print("no extracted rows: run 'extract' first", file=sys.stderr)
        return 1
    rows = [r for r in every if r["rule"] is None]
    columns = list(BASE_FEATURES) + list(NEED_FEATURES)
    after, thresholds, auc = crossfit(rows, columns, args)
    # rows decided by rule are abstained before and after; the tables count them
    ruled = [r for r in every if r["rule"] is not None]
    all_rows = rows + ruled
    before_all = [r["before"] for r in rows] + ["abstained"] * len(ruled)
    after_all = after + ["abstained"] * len(ruled)
    cmd = f"/work/main/.venv/bin/python bench/fit_need.py fit --n {args.n}" + (" --full" if args.full else "") + \
          f" --model {args.model} --c {args.c} --sure-unanswerable {args.sure_unanswerable} --lost {args.lost}"
    print(f"Rows: {len(every)} questions, {len(ruled)} decided by rule (refused, nothing_to_read, no sentences). "
          f"Cross-fitted AUC (good answer vs not): {auc:.3f}. Fold thresholds (abstain, unsure edge): "
          + ", ".join(f"({a:.2f}, {e:.2f})" for a, e in thresholds) + "\n")
    print("\n".join(table(all_rows, before_all, after_all)))
    s_before, s_after = summary(all_rows, before_all), summary(all_rows, after_all)
    print("\nSet-weighted means | unanswerable sure | worst set | answerable sure | precision of sure |")
    for label, s in (("before", s_before), ("after", s_after)):
        print(f"| {label} | {100 * s['unanswerable_sure']:.1f} % | {100 * s['worst_unanswerable_sure']:.1f} % | "
              f"{100 * s['answerable_sure']:.1f} % | {s['precision']:.3f} |")
    print("\nAblation (cross-fitted, one group dropped; 'model' = the answerability logit and the Latin share):\n")
    print("| dropped | features | AUC | unanswerable sure | worst set | answerable sure | precision of sure |")
    print("|---|---|---|---|---|---|---|")
    groups = {"(none)": (), "model": BASE_FEATURES, **NEED_GROUPS}
    for name, drop in groups.items():
        cols = [c for c in columns if c not in drop]
        ds, _, a = crossfit(rows, cols, args) if drop else (after, thresholds, auc)
        s = summary(all_rows, ds + ["abstained"] * len(ruled))
        print(f"| {name} | {len(cols)} | {a:.3f} | {100 * s['unanswerable_sure']:.1f} % | {100 * s['worst_unanswerable_sure']:.1f} % | "
              f"{100 * s['answerable_sure']:.1f} % | {s['precision']:.3f} |")
    print(f"\n    {cmd}")
    if args.write:
        x = matrix(rows, columns)
        y = np.array([int(r["answerable"] and r["hit"]) for r in rows])
        scaler, model = fit_model(x, y, set_weights(rows), args.c)
        folds = np.array([r["fold"] for r in rows])
        q = np.zeros(len(rows))  # thresholds on out-of-fold probabilities, as in the cross-fit
        for f in sorted(set(folds)):
            sc, m = fit_model(x[folds != f], y[folds != f], set_weights(rows)[folds != f], args.c)
            q[folds == f] = m.predict_proba(sc.transform(x[folds == f]))[:, 1]
        abstain, edge = choose_thresholds(q, rows, args.sure_unanswerable, args.lost)
        content = {"format": "need-decision/1", "features": columns,
                   "weights": [round(float(v), 6) for v in model.coef_[0]], "bias": round(float(model.intercept_[0]), 6),
                   "means": [round(float(v), 6) for v in scaler.mean_], "scales": [round(float(v), 6) for v in scaler.scale_],
                   "abstain_threshold": abstain, "unsure_below": edge, "training_command": cmd + " --write",
                   "training_rows": len(rows), "note": "p = sigmoid(((x - means) / scales) . weights + bias); "
                   "x as bench/fit_need.py matrix(): answerability_logit = logit of the answerability probability"}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
        WEIGHTS_PATH.write_text(json.dumps({**content, "sha256": digest}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {WEIGHTS_PATH.relative_to(ROOT)} (abstain {abstain}, unsure below {edge})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("extract", "fit"))
    parser.add_argument("--n", type=int, default=1000, help="the slice (data/archive/ant-<n>)")
    parser.add_argument("--full", action="store_true", help="XQuAD's whole sets, not the _s200 samples")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation of the logistic regression")
    parser.add_argument("--sure-unanswerable", type=float, default=0.04, help="unanswerable answered sure allowed (training)")
    parser.add_argument("--lost", type=float, default=0.05, help="good answers abstained on allowed (training)")
    parser.add_argument("--model", choices=("logistic", "gbm"), default="logistic",
                        help="gbm: scikit-learn's HistGradientBoosting, for comparison (--write saves the logistic one)")
    parser.add_argument("--write", action="store_true", help="save the full-data model to retrieval/answer/need_weights.json")
    args = parser.parse_args(argv)
    if args.step == "extract":
        extract(ROOT / "data" / "archive" / f"ant-{args.n}", args.full)
        return 0
    return run_fit(args)


if __name__ == "__main__":
    sys.exit(main())
