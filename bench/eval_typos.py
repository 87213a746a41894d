"""Questions with typos, with and without the spelling correction (retrieval/understand/spelling.py), in one run.

    python bench/eval_typos.py [--variants 3] [--json out.json]

The typo sets are made here: each Arabic question of eval/seed_qa.jsonl and eval/dialect_qa.jsonl gets one
random edit (a letter dropped, added, changed, or two swapped; fixed seed) in one of its longest content words,
``--variants`` times with different edits. The correction never sees how they were made. The clean sets show
what the correction costs where there is nothing to correct: seed QA, unanswerable and conversations,
the dialect sets, and XQuAD-ar and ARCD-train over their own paragraphs (native questions, whose own typos
it may fix or whose rare words it may change).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import replace
from pathlib import Path

from common import ROOT, SHARED_DATA

from retrieval.evaluation import Evaluator, QAItem, cached_index, read_conversations, read_qa, read_squad, squad_corpus
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings
from retrieval.text.arabic import STOPWORDS, normalize

EVAL = ROOT / "eval"
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوية"
_WORD = re.compile(r"[\u0621-\u064A]+")


def misspell(word: str, rng: random.Random) -> str:
    """One edit inside ``word`` (not its first letter): drop, add, change, or swap two neighbours."""
    i = rng.randrange(1, len(word))
    edit = rng.choice(("drop", "add", "change", "swap"))
    if edit == "drop":
        return word[:i] + word[i + 1 :]
    if edit == "add":
        return word[:i] + rng.choice(LETTERS) + word[i:]
    if edit == "change":
        return word[:i] + rng.choice(LETTERS.replace(word[i], "")) + word[i + 1 :]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :] if word[i] != word[i - 1] else word[:i] + word[i + 1 :]


def with_typos(items: list[QAItem], variants: int, seed: int = 7) -> list[QAItem]:
    rng = random.Random(seed)
    out = []
    for item in items:
        words = [w for w in _WORD.findall(item.question) if normalize(w) not in STOPWORDS and len(w) >= 4]
        if not words or re.search("[A-Za-z]", item.question):
            continue
        longest = sorted(words, key=len, reverse=True)[:2]
        for _ in range(variants):
            word = rng.choice(longest)
            out.append(QAItem(item.question.replace(word, misspell(word, rng), 1), item.answers, item.all))
    return out


def measure(pipeline: Pipeline, qa: list[QAItem], unanswerable: list[QAItem], conversations=None) -> dict:
    evaluator = Evaluator(pipeline, "hybrid", 5)
    evaluator.qa(qa)
    evaluator.unanswerable(unanswerable)
    if conversations:
        evaluator.conversations(conversations)
    m = evaluator.report.to_dict()
    out = {"questions": m["n_questions"], "answer_recall": m["answer_recall"],
           "answerable_abstained": m["abstention"]["answerable_abstained"], "answered_unsure": m["unsure"]["answered_unsure"]}
    if unanswerable:
        out |= {"unanswerable": len(unanswerable), "abstained": m["abstention"]["abstained_correctly"],
                "abstained_or_flagged": m["unsure"]["unanswerable_abstained_or_flagged"]}
    if conversations:
        out["conversations"] = m["conversation_recall"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    seed_qa, dialect_qa = read_qa(EVAL / "seed_qa.jsonl"), read_qa(EVAL / "dialect_qa.jsonl")
    seed = Pipeline.load(cached_index(ROOT / "corpus", Settings()))
    sets = {
        "seed QA with typos": (seed, with_typos(seed_qa, args.variants), [], None),
        "dialect QA with typos": (seed, with_typos(dialect_qa, args.variants), [], None),
        "seed (clean)": (seed, seed_qa, read_qa(EVAL / "unanswerable.jsonl"), read_conversations(EVAL / "conversations.jsonl")),
        "dialect (clean)": (seed, dialect_qa, read_qa(EVAL / "dialect_unanswerable.jsonl"), None),
    }
    for name, path in (("XQuAD-ar", SHARED_DATA / "xquad" / "xquad.ar.json"), ("ARCD-train", SHARED_DATA / "arcd" / "arcd-train.json")):
        docs, qa, _ = read_squad(path, 0)
        sets[name] = (Pipeline.load(cached_index(squad_corpus(path, docs, 0), Settings())), qa, [], None)
    results: dict = {}
    print(f"{'set':<24} {'spelling':<9} {'n':>5} {'recall':>7} {'abst':>5} {'unsure':>6} {'unans':>5} {'abst':>5} {'+flag':>5} {'conv':>5}")
    for name, (pipeline, qa, unanswerable, conversations) in sets.items():
        for variant in ("off", "on"):
            on = variant == "on"  # a variant with a copy of the settings (and the Understand switch they set up)
            varied = pipeline.variant(settings=pipeline.settings.with_(spelling=on),
                                      steps=replace(pipeline.understand.steps, spelling=on))
            r = results.setdefault(name, {})[variant] = measure(varied, qa, unanswerable, conversations)
            print(f"{name:<24} {variant:<9} {r['questions']:>5} {r['answer_recall']:>7.3f} {r['answerable_abstained']:>5} "
                  f"{r['answered_unsure']:>6} {r.get('unanswerable', ''):>5} {r.get('abstained', ''):>5} "
                  f"{r.get('abstained_or_flagged', ''):>5} {r.get('conversations', ''):>5}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
