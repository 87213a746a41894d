#!/usr/bin/env python3
"""Check the eval sets against the corpus.

Every gold answer in seed_qa.jsonl and conversations.jsonl must occur (after
Arabic normalisation) as a substring of at least one article in corpus/.
unanswerable.jsonl is only checked for JSON validity and format. dialect_qa.jsonl is checked like
seed_qa.jsonl (plus its "dialect" key); dialect_unanswerable.jsonl like unanswerable.jsonl;
dialect_conversations.jsonl like conversations.jsonl.

Usage: python eval/check_gold.py   (no arguments; exit 1 on any failure)
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "eval"
CORPUS = ROOT / "corpus"

FIRST_SEED = {"question": "من التقى رشاد؟", "answers": ["نتنياهو", "ويتكوف"], "all": True}

_TASHKEEL = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]")  # harakat, superscript alef, tatweel
_ALEF = re.compile(r"[\u0622\u0623\u0625\u0671]")  # آ أ إ ٱ -> ا


def normalize(text: str) -> str:
    text = _TASHKEEL.sub("", text)
    text = _ALEF.sub("\u0627", text)
    text = text.replace("\u0649", "\u064A")  # ى -> ي
    text = text.replace("\u0629", "\u0647")  # ة -> ه
    text = re.sub(r"\s+", " ", text)
    return text.lower()


def load_jsonl(path: Path, failures: list):
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        failures.append(f"{path.name}: cannot read ({e})")
        return rows
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as e:
            failures.append(f"{path.name}:{n}: invalid JSON ({e})")
    return rows


DIALECTS = {"egyptian", "levantine", "gulf"}


def check_item(where: str, item, docs: list, failures: list, dialect: bool = False) -> None:
    keys = {"question", "answers", "all"} | ({"dialect"} if dialect else set())
    if not isinstance(item, dict) or set(item) != keys:
        failures.append(f"{where}: expected keys {'/'.join(sorted(keys))}, got {item!r}")
        return
    if dialect and item["dialect"] not in DIALECTS:
        failures.append(f"{where}: 'dialect' must be one of {sorted(DIALECTS)}")
    q, answers, all_ = item["question"], item["answers"], item["all"]
    if not isinstance(q, str) or not q.strip():
        failures.append(f"{where}: empty or non-string question")
    if not isinstance(all_, bool):
        failures.append(f"{where}: 'all' must be a bool")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
        failures.append(f"{where}: 'answers' must be a non-empty list of non-empty strings")
        return
    for a in answers:
        na = normalize(a)
        if not any(na in d for d in docs):
            failures.append(f"{where}: gold answer not in corpus: {a!r} (question: {q!r})")


def main() -> int:
    failures: list = []
    docs = [normalize(p.read_text(encoding="utf-8")) for p in sorted(CORPUS.glob("*.txt"))]
    if not docs:
        print(f"no corpus files found in {CORPUS}")
        return 1

    seed = load_jsonl(EVAL / "seed_qa.jsonl", failures)
    if seed and seed[0][1] != FIRST_SEED:
        failures.append(f"seed_qa.jsonl:1: first line must be {json.dumps(FIRST_SEED, ensure_ascii=False)}")
    for n, item in seed:
        check_item(f"seed_qa.jsonl:{n}", item, docs, failures)

    unans = load_jsonl(EVAL / "unanswerable.jsonl", failures)
    for n, item in unans:
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) or not item["question"].strip():
            failures.append(f"unanswerable.jsonl:{n}: expected {{\"question\": str}}, got {item!r}")

    convs = load_jsonl(EVAL / "conversations.jsonl", failures)
    for n, conv in convs:
        turns = conv.get("turns") if isinstance(conv, dict) else None
        if not isinstance(turns, list) or len(turns) < 2:
            failures.append(f"conversations.jsonl:{n}: expected {{\"turns\": [...]}} with at least 2 turns")
            continue
        for t, item in enumerate(turns, 1):
            check_item(f"conversations.jsonl:{n} turn {t}", item, docs, failures)

    dialect = load_jsonl(EVAL / "dialect_qa.jsonl", failures)
    for n, item in dialect:
        check_item(f"dialect_qa.jsonl:{n}", item, docs, failures, dialect=True)
    dialect_unans = load_jsonl(EVAL / "dialect_unanswerable.jsonl", failures)
    for n, item in dialect_unans:
        if not isinstance(item, dict) or set(item) != {"question", "dialect"} or not str(item.get("question", "")).strip() \
                or item.get("dialect") not in DIALECTS:
            failures.append(f"dialect_unanswerable.jsonl:{n}: expected {{\"question\": str, \"dialect\": ...}}, got {item!r}")

    dialect_convs = load_jsonl(EVAL / "dialect_conversations.jsonl", failures)
    for n, conv in dialect_convs:
        turns = conv.get("turns") if isinstance(conv, dict) else None
        if not isinstance(turns, list) or len(turns) < 2 or set(conv) != {"turns", "dialect"} or conv["dialect"] not in DIALECTS:
            failures.append(f"dialect_conversations.jsonl:{n}: expected {{\"turns\": [...], \"dialect\": ...}} with at least 2 turns")
            continue
        for t, item in enumerate(turns, 1):
            check_item(f"dialect_conversations.jsonl:{n} turn {t}", item, docs, failures)

    for f in failures:
        print("FAIL", f)
    print(f"seed_qa: {len(seed)}  unanswerable: {len(unans)}  conversations: {len(convs)}  dialect_qa: {len(dialect)}  "
          f"dialect_unanswerable: {len(dialect_unans)}  dialect_conversations: {len(dialect_convs)}  failures: {len(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
