"""The answerability model refitted with English questions, capitalised and in lower case, cross-fitted by article.

bench/fit_abstention.py fits the model on Arabic questions (XQuAD-ar, the seed sets); English questions
enter it only through the seed's nine. This script asks every question of the sets below once, keeps its
answerability features (the composer's ANSWERABILITY row, as fit_abstention does), and then compares, on
folds by article (fit on one half, measure on the other, both ways), the shipped model with refits:

    xquad-ar / -en / -lower        XQuAD over a corpus without its last --holdout-articles articles: the kept
                                   articles' questions are answerable, the held-out ones' are not (Arabic, the
                                   English questions over the same Arabic paragraphs, and those in lower case)
    near-ar / -en / -lower         XQuAD over a corpus without every 4th paragraph: the rest is answerable; the
                                   left-out paragraphs' questions whose gold appears nowhere in it are near-topic
                                   unanswerable
    arcd                           ARCD-train (answerable)
    seed / seed-lower              eval/seed_qa.jsonl and eval/unanswerable.jsonl (-lower: the English ones in
                                   lower case); folds: odd and even questions

Per set and model: answerable questions abstained (below DecisionConfig.abstain_threshold) and unanswerable
ones abstained, or abstained or flagged (below unsure_below). ``--rows FILE`` keeps the features (JSON Lines)
and ``--from-rows FILE`` re-reads them; ``--write FILE`` writes the chosen refit, fitted on every row, in the
composer's weights format.

    python bench/crossfit_answerability.py --rows data/logs/answerability-rows.jsonl
    python bench/crossfit_answerability.py --from-rows data/logs/answerability-rows.jsonl --write /tmp/w.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from common import ROOT, SHARED_DATA

from retrieval.answer import ANSWERABILITY, DecisionConfig, load_weights, save_weights
from retrieval.answer.scoring import FEATURES, answerability_row, question_idf
from retrieval.evaluation import cached_index, norm_answer, read_qa, read_squad, squad_corpus
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

XQUAD_AR = SHARED_DATA / "xquad" / "xquad.ar.json"
XQUAD_EN = SHARED_DATA / "xquad" / "other-languages" / "xquad.en.json"
ARCD = SHARED_DATA / "arcd" / "arcd-train.json"
LOWER = ANSWERABILITY.index("lower_latin") if "lower_latin" in ANSWERABILITY else None


def latin(question: str) -> bool:
    return sum(ch.isascii() and ch.isalpha() for ch in question) > len(question) / 2


TRAIN_ONLY = ("de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")  # more wordings to fit on, never measured


def squad_questions(holdout: int) -> list[dict]:
    """Every XQuAD question: article, paragraph, its wording in each language, the Arabic golds."""
    wordings = {lang: {q["id"]: q["question"] for a in json.loads(
        (XQUAD_EN.parent / f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"]
        for p in a["paragraphs"] for q in p["qas"]} for lang in ("en", *TRAIN_ONLY)}
    data = json.loads(XQUAD_AR.read_text(encoding="utf-8"))["data"]
    out = []
    for a, article in enumerate(data):
        for i, paragraph in enumerate(article["paragraphs"]):
            for q in paragraph["qas"]:
                out.append({"article": a, "paragraph": i, "ar": q["question"],
                            **{lang: wording[q["id"]] for lang, wording in wordings.items()},
                            "golds": sorted({x["text"] for x in q["answers"]}), "held": a >= len(data) - holdout})
    return out


def near_topic_corpus() -> tuple[Path, set[tuple[int, int]]]:
    """XQuAD without every 4th paragraph (fit_abstention's near-topic corpus) and the left-out paragraphs."""
    data = json.loads(XQUAD_AR.read_text(encoding="utf-8"))["data"]
    docs, left = [], set()
    paragraphs = [(a, i, art["title"], par) for a, art in enumerate(data) for i, par in enumerate(art["paragraphs"])]
    for n, (a, i, title, par) in enumerate(paragraphs):
        if n % 4 == 3:
            left.add((a, i))
        else:
            docs.append({"id": f"{a:03d}-{i:02d}", "title": title.replace("_", " "), "text": par["context"]})
    return squad_corpus(XQUAD_AR, docs, "near-topic"), left


def record(pipeline: Pipeline, question: str) -> tuple[list[float], np.ndarray, np.ndarray]:
    """The question's ANSWERABILITY row, its vector and the vector of the sentence the row calls best."""
    composer = pipeline.composer
    query = pipeline.understand(question)  # the Query and the passages the pipeline composes from
    vector, passages = pipeline.search(query)
    cands = composer.candidates(passages)
    if not cands:
        return [0.0] * len(ANSWERABILITY), vector, np.zeros_like(vector)
    idf = question_idf(pipeline.index, set(query.stems))
    f = composer.features(cands, passages, vector, query, idf)
    row = [float(v) for v in answerability_row(f, passages, query, idf)]
    best = int(np.argmax(f[:, FEATURES.index("dense")] + f[:, FEATURES.index("coverage")]))
    return row, vector, np.asarray(pipeline.index.sentence_vectors[cands[best].sentence_index], np.float32)


VECTORS: dict[str, list[np.ndarray]] = {"q": [], "s": []}


def ask(pipeline: Pipeline, name: str, items: list[tuple[int, str, bool]]) -> list[dict]:
    """(fold group, question, answerable) -> rows of features (the vectors go to VECTORS, in row order)."""
    started = time.perf_counter()
    rows = []
    for group, question, answerable in items:
        features, q, s = record(pipeline, question)
        rows.append({"set": name, "fold": group % 2, "answerable": answerable, "question": question, "features": features})
        VECTORS["q"].append(q)
        VECTORS["s"].append(s)
    print(f"  {name}: {len(rows)} questions in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


def collect(holdout: int, languages: tuple[str, ...]) -> list[dict]:
    settings = Settings(reader="off")
    rows: list[dict] = []
    seed = Pipeline.load(cached_index(ROOT / "corpus", settings))
    seed_items = [(n, q.question, True) for n, q in enumerate(read_qa(ROOT / "eval" / "seed_qa.jsonl"))]
    seed_items += [(n, q.question, False) for n, q in enumerate(read_qa(ROOT / "eval" / "unanswerable.jsonl"))]
    rows += ask(seed, "seed", seed_items)
    rows += ask(seed, "seed-lower", [(g, q.lower(), a) for g, q, a in seed_items if latin(q)])
    questions = squad_questions(holdout)
    docs, _, _ = read_squad(XQUAD_AR, holdout)
    xquad = Pipeline.load(cached_index(squad_corpus(XQUAD_AR, docs, holdout), settings))
    corpus, left = near_topic_corpus()
    near = Pipeline.load(cached_index(corpus, settings))
    text = norm_answer(" ".join(json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()))
    near_items = [q for q in questions if (q["article"], q["paragraph"]) not in left
                  or not any(norm_answer(g) in text for g in q["golds"])]
    wordings = [("ar", lambda q: q["ar"]), ("en", lambda q: q["en"]), ("lower", lambda q: q["en"].lower())]
    wordings += [(lang, lambda q, lang=lang: q[lang]) for lang in languages]
    for suffix, wording in wordings:
        rows += ask(xquad, f"xquad-{suffix}", [(q["article"], wording(q), not q["held"]) for q in questions])
        rows += ask(near, f"near-{suffix}", [(q["article"], wording(q), (q["article"], q["paragraph"]) not in left)
                                             for q in near_items])
    docs, _, _ = read_squad(ARCD, 0)
    arcd = Pipeline.load(cached_index(squad_corpus(ARCD, docs, 0), settings))
    data = json.loads(ARCD.read_text(encoding="utf-8"))["data"]
    rows += ask(arcd, "arcd", [(a, q["question"].strip(" -\n"), True) for a, article in enumerate(data)
                               for p in article["paragraphs"] for q in p["qas"]])
    return rows


def lower_flag(question: str) -> float:
    """1 for a Latin-script question typed without a capital letter."""
    return float(latin(question) and not any(ch.isupper() for ch in question))


BASE = tuple(name for name in ANSWERABILITY if name not in ("lower_latin",))


def design(rows: list[dict], q: np.ndarray, s: np.ndarray, model: str) -> np.ndarray:
    """The columns a model reads: BASE; "+lower": and lower_flag; "head": and the question's vector times
    its best sentence's, element by element (which meanings the two share, not only how many)."""
    x = np.array([r["features"][: len(BASE)] for r in rows])
    if model in ("refit+lower", "head"):
        x = np.hstack([x, np.array([[lower_flag(r["question"])] for r in rows])])
    if model == "head":
        x = np.hstack([x, q * s])
    return x


def weighted_fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float) -> np.ndarray:
    """Weighted logistic regression on standardised columns; returns weights (and bias, last) for raw x."""
    from scipy.optimize import minimize

    mean, std = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / std
    zb = np.hstack([z, np.ones((len(z), 1))])
    weight = weight / weight.sum()

    def loss(w):
        p = 1 / (1 + np.exp(-(zb @ w)))
        value = -np.sum(weight * (y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9))) + l2 * (w[:-1] @ w[:-1])
        grad = zb.T @ (weight * (p - y)) + 2 * l2 * np.append(w[:-1], 0)
        return value, grad

    w = minimize(loss, np.zeros(zb.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 10000}).x
    raw = w[:-1] / std
    return np.append(raw, w[-1] - raw @ mean)


def fit_rows(rows: list[dict], q: np.ndarray, s: np.ndarray, model: str, l2: float) -> np.ndarray:
    """A model fitted on ``rows``, the answerable and the unanswerable rows of each set weighing the same."""
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["set"], r["answerable"]), []).append(i)
    weight = np.zeros(len(rows))
    for idx in groups.values():
        weight[idx] = 1.0 / len(idx)
    y = np.array([float(r["answerable"]) for r in rows])
    return weighted_fit(design(rows, q, s, model), y, weight, l2)


def probabilities(rows: list[dict], q: np.ndarray, s: np.ndarray, w: np.ndarray, model: str) -> np.ndarray:
    return 1 / (1 + np.exp(-(design(rows, q, s, model) @ w[:-1] + w[-1])))


def shipped_vector() -> np.ndarray:
    weights = load_weights()
    return np.array([weights.answerability[name] for name in BASE] + [weights.answerability_bias])


MODELS = ("shipped", "refit", "refit+lower", "head")


def crossfit(rows: list[dict], q: np.ndarray, s: np.ndarray, l2: dict[str, float], fit_sets=None) -> dict[str, np.ndarray]:
    """Each model's probability for every row, from the fit on the other fold (on ``fit_sets`` only, if given)."""
    out = {}
    for model in MODELS:
        p = np.zeros(len(rows))
        for fold in (0, 1):
            test = np.array([i for i, r in enumerate(rows) if r["fold"] == fold])
            if model == "shipped":
                p[test] = probabilities([rows[i] for i in test], q[test], s[test], shipped_vector(), "refit")
                continue
            train = np.array([i for i, r in enumerate(rows) if r["fold"] != fold and (fit_sets is None or fit_sets(r["set"]))])
            w = fit_rows([rows[i] for i in train], q[train], s[train], model, l2[model])
            p[test] = probabilities([rows[i] for i in test], q[test], s[test], w, model)
        out[model] = p
    return out


def _share(count: int, total: int) -> str:
    return f"{count:>4} {count / total:>5.1%}" if total else "–"


def table(rows: list[dict], probs: dict[str, np.ndarray], low: float, edge: float) -> dict:
    sets = list(dict.fromkeys(r["set"] for r in rows))
    figures: dict = {}
    print(f"abstain below {low}, flagged below {edge}; held-out folds by article (seed: odd / even questions)")
    print(f"{'set':<12} {'model':<12} {'ans':>5} {'abstained':>10} {'flagged':>8} {'unans':>6} {'abstained':>10} "
          f"{'+flagged':>9}")
    for name in sets:
        idx = [i for i, r in enumerate(rows) if r["set"] == name]
        ans = [i for i in idx if rows[i]["answerable"]]
        una = [i for i in idx if not rows[i]["answerable"]]
        for model, p in probs.items():
            f = {"answerable": len(ans), "answerable_abstained": int(np.sum(p[ans] < low)),
                 "answerable_flagged": int(np.sum((p[ans] >= low) & (p[ans] < edge))),
                 "unanswerable": len(una), "abstained": int(np.sum(p[una] < low)), "caught": int(np.sum(p[una] < edge))}
            figures.setdefault(name, {})[model] = f
            print(f"{name:<12} {model:<12} {len(ans):>5} {_share(f['answerable_abstained'], len(ans)):>10} "
                  f"{f['answerable_flagged']:>8} {len(una):>6} {_share(f['abstained'], len(una)):>10} "
                  f"{_share(f['caught'], len(una)):>9}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holdout-articles", type=int, default=8)
    parser.add_argument("--languages", default=",".join(TRAIN_ONLY),
                        help="XQuAD's other languages asked too, to fit on only (comma-separated; empty: none)")
    parser.add_argument("--rows", type=Path, help="write the features of every question here (JSON Lines; vectors: .npz)")
    parser.add_argument("--from-rows", type=Path, help="read them instead of asking")
    parser.add_argument("--l2", type=float, default=1e-4, help="L2 of the refits (standardised columns)")
    parser.add_argument("--l2-head", type=float, default=1e-2, help="L2 of the head")
    parser.add_argument("--fit-on", choices=("all", "measured"), default="all",
                        help="fit on every set, or only on the sets measured (not the other languages)")
    parser.add_argument("--json", type=Path, help="write the table's figures here")
    parser.add_argument("--write", type=Path, help="write this refit, fitted on every row, in the weights format")
    parser.add_argument("--model", choices=[m for m in MODELS if m not in ("shipped", "head")], default="refit+lower")
    args = parser.parse_args(argv)
    if args.from_rows:
        rows = [json.loads(line) for line in args.from_rows.read_text(encoding="utf-8").splitlines() if line.strip()]
        with np.load(args.from_rows.with_suffix(".npz")) as vectors:
            q, s = vectors["q"], vectors["s"]
    else:
        rows = collect(args.holdout_articles, tuple(filter(None, args.languages.split(","))))
        q, s = np.array(VECTORS["q"], np.float32), np.array(VECTORS["s"], np.float32)
    if args.rows:
        args.rows.parent.mkdir(parents=True, exist_ok=True)
        args.rows.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        np.savez(args.rows.with_suffix(".npz"), q=q, s=s)
    measured = lambda name: name.split("-")[-1] not in TRAIN_ONLY  # noqa: E731
    l2 = {"refit": args.l2, "refit+lower": args.l2, "head": args.l2_head}
    probs = crossfit(rows, q, s, l2, None if args.fit_on == "all" else measured)
    config = DecisionConfig()
    keep = np.array([measured(r["set"]) for r in rows])
    figures = table([r for r, k in zip(rows, keep) if k], {m: p[keep] for m, p in probs.items()},
                    config.abstain_threshold, config.unsure_below)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    if args.write:
        fit_idx = np.array([i for i, r in enumerate(rows) if args.fit_on == "all" or measured(r["set"])])
        w = fit_rows([rows[i] for i in fit_idx], q[fit_idx], s[fit_idx], args.model, l2[args.model])
        names = list(BASE) + (["lower_latin"] if args.model == "refit+lower" else [])
        print(f"{args.model} on every row:", {n: round(float(v), 3) for n, v in zip(names, w)}, "bias", round(float(w[-1]), 3))
        shipped = load_weights()
        save_weights(shipped.replace(answerability=dict(zip(names, (float(v) for v in w[:-1]))),
                                     answerability_bias=float(w[-1]),
                                     note=f"answerability: bench/crossfit_answerability.py --model {args.model}; "
                                          "sentence: kept from the shipped weights"), args.write)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
