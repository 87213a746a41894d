"""The bold answer phrase (retrieval/answer/spans.py): how often it is shown (coverage) and how often it is
right (precision), per set and question type, through the real pipeline.

    python bench/eval_spans.py --check --json data/logs/spans.json        # READER=off and on, every set
    python bench/eval_spans.py --sets xquad-ar,xquad-en --tune            # choose the gates (XQuAD fold 0)
    python bench/eval_spans.py --readers off --sets seed --limit 20        # a quick look

Sets: XQuAD-ar and XQuAD-en questions over the Arabic paragraphs (split by article fold: the gates are
chosen on fold 0 only, so fold 1 is held out), ARCD-train and eval/seed_qa.jsonl (held out). A bold span
is *strict*-correct when, after normalisation (retrieval.text.arabic.normalize through tokenize, no stemming; a
leading proclitic و ف ب ل ك or article ال taken off each word), it holds a gold answer and is at most 3
words longer than it, or lies inside a gold answer and covers at least half of its words; *lenient*: token
F1 >= 0.5 with a gold answer (SQuAD's F1 over the same words). Precision = correct / bolded; coverage =
bolded / questions (every question of the type, abstentions included).

Each question's answer is recorded in ``--records`` (JSON lines, one per set, reader and question): a
second run with the same file reuses them and only re-scores (``--fresh`` asks again). The pipeline's own
span is what is scored; ``--check`` also recomputes it from the record to catch a drift between the two.
The types not shipped (SHIPPED_TYPES) are scored from the same records with their tuned gates.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path

from common import ROOT, SHARED_DATA
from eval_reader import squad_items

from retrieval.answer.spans import GATES, SHIPPED_TYPES, find_span
from retrieval.evaluation import QAItem, cached_index, read_qa, read_squad, squad_corpus
from retrieval.pipeline import Pipeline, load_reader
from retrieval.settings import Settings
from retrieval.text.arabic import tokenize
from retrieval.understand.qtype import answer_type

XQUAD_DIR = SHARED_DATA / "xquad"
ARCD = SHARED_DATA / "arcd" / "arcd-train.json"
SEED_QA = ROOT / "eval" / "seed_qa.jsonl"
LONGER_BY = 3  # strict: a span holding the gold may add this many words (a counted noun, "عام", a title)
_CLITICS = ("و", "ف", "ب", "ل", "ال", "وال", "بال", "فال", "لل", "ك")


def _words(text: str) -> list[str]:
    """Normalised words with a leading proclitic or article taken off (so "بالقدس" meets "القدس")."""
    out = []
    for token in tokenize(text):
        for clitic in sorted(_CLITICS, key=len, reverse=True):
            if token.startswith(clitic) and len(token) - len(clitic) >= 2 and not token.isdigit():
                token = token[len(clitic):]
                break
        out.append(token)
    return out


def _inside(small: list[str], big: list[str]) -> bool:
    return any(big[i:i + len(small)] == small for i in range(len(big) - len(small) + 1)) if small else False


def strict_match(span: str, golds: list[str]) -> bool:
    s = _words(span)
    for gold in golds:
        g = _words(gold)
        if not g:
            continue
        if _inside(g, s) and len(s) - len(g) <= LONGER_BY:
            return True
        if _inside(s, g) and 2 * len(s) >= len(g):
            return True
    return False


def f1(span: str, gold: str) -> float:
    s, g = _words(span), _words(gold)
    common = sum(min(s.count(w), g.count(w)) for w in set(s))
    if not common:
        return 0.0
    p, r = common / len(s), common / len(g)
    return 2 * p * r / (p + r)


def lenient_match(span: str, golds: list[str]) -> bool:
    return max((f1(span, g) for g in golds), default=0.0) >= 0.5


def load_sets(wanted: list[str]) -> dict[str, tuple[Settings, list[tuple[str, QAItem]]]]:
    """name -> (settings on its cached index, [(split, item)]); split is "fold0", "fold1" or "all"."""
    base = Settings(reader="off")
    sets = {}
    xq = XQUAD_DIR / "xquad.ar.json"
    if "xquad-ar" in wanted or "xquad-en" in wanted:
        docs, _, _ = read_squad(xq, 0)
        settings = cached_index(squad_corpus(xq, docs, 0), base)
        if "xquad-ar" in wanted:
            sets["xquad-ar"] = (settings, [(f"fold{f}", item) for f, _, item in squad_items(xq, "xquad")])
        if "xquad-en" in wanted:
            en = squad_items(xq, "xquad", XQUAD_DIR / "other-languages" / "xquad.en.json")
            sets["xquad-en"] = (settings, [(f"fold{f}", item) for f, _, item in en])
    if "arcd" in wanted:
        docs, _, _ = read_squad(ARCD, 0)
        sets["arcd"] = (cached_index(squad_corpus(ARCD, docs, 0), base), [("all", i) for _, _, i in squad_items(ARCD, "arcd")])
    if "seed" in wanted:
        seed = Settings(reader="off", corpus_dir=ROOT / "corpus")
        sets["seed"] = (cached_index(ROOT / "corpus", seed), [("all", item) for item in read_qa(SEED_QA)])
    return sets


def collect(sets, readers: list[str], limit: int, records: Path, fresh: bool) -> list[dict]:
    """Every question's record, asked through the real pipeline (or read back from ``records``)."""
    done = {} if fresh or not records.is_file() else {
        (r["set"], r["reader"], r["n"]): r for r in map(json.loads, records.read_text(encoding="utf-8").splitlines())}
    out = []
    with records.open("w", encoding="utf-8") as sink:
        for name, (settings, items) in sets.items():
            pipelines: dict[str, Pipeline] = {}
            for reader in readers:
                for n, (split, item) in enumerate(items[:limit] if limit else items):
                    record = done.get((name, reader, n))
                    if record is None or record["question"] != item.question:
                        if not pipelines:  # one index and embedder; the tower or none (the loaded pipeline is never changed)
                            loaded = Pipeline.load(settings)
                            tower = load_reader(settings.with_(reader="on"), loaded.embedder)
                            pipelines = {r: Pipeline(settings, loaded.index, loaded.embedder, tower if r == "on" else None)
                                         for r in ("off", "on")}
                        answer = pipelines[reader].answer(item.question)
                        lead = answer.excerpts[0] if answer.excerpts else None
                        record = {"set": name, "reader": reader, "n": n, "split": split, "question": item.question,
                                  "answers": item.answers, "qtype": answer_type(item.question),
                                  "abstained": answer.abstained, "unsure": answer.unsure, "confidence": answer.confidence,
                                  "lead": lead.text if lead else None,
                                  "highlights": lead.highlights if lead else [],
                                  "span": lead.answer if lead else None,
                                  "scores": [e.score for e in answer.excerpts]}
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                    out.append(record)
                print(f"{name} READER={reader}: {sum(1 for r in out if r['set'] == name and r['reader'] == reader)}",
                      file=sys.stderr, flush=True)
    return out


def score(records: list[dict], check: bool = False, gates: dict | None = None) -> dict:
    """{reader: {set/split: {qtype|all: {questions, bolded, coverage, strict, lenient}}}}. ``gates``: score
    find_span with these keyword arguments instead of the pipeline's span (tuning)."""
    table: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(int))))
    drift = 0
    for r in records:
        span = r["span"]
        if (check or gates is not None) and r["lead"] is not None and not r["abstained"]:
            again = find_span(r["question"], r["lead"], r["highlights"], r["confidence"], r["unsure"], **(gates or {}))
            drift += (list(again) if again else None) != (list(span) if span else None)
            span = again if gates is not None else span
        text = r["lead"][span[0]:span[1]] if span else None
        for key in (r["qtype"], "all"):
            cell = table[r["reader"]][f"{r['set']}/{r['split']}"][key]
            cell["questions"] += 1
            if text is not None:
                cell["bolded"] += 1
                cell["strict"] += strict_match(text, r["answers"])
                cell["lenient"] += lenient_match(text, r["answers"])
    result = {}
    for reader, sets in table.items():
        for name, types in sets.items():
            for qtype, cell in types.items():
                b = cell["bolded"]
                result.setdefault(reader, {}).setdefault(name, {})[qtype] = {
                    "questions": cell["questions"], "bolded": b, "coverage": round(b / cell["questions"], 4),
                    "strict": round(cell["strict"] / b, 4) if b else None,
                    "lenient": round(cell["lenient"] / b, 4) if b else None}
    if check:
        result["_drift"] = drift
    return result


MIN_BOLDED = 15  # a setting chosen on fewer bolded questions of fold 0 says too little


def tune(records: list[dict]) -> dict:
    """Per type, the gate setting (find_span's keywords) of the highest strict precision on XQuAD fold 0 (Arabic
    and English questions, READER=off) among those that bold at least MIN_BOLDED questions; ties go to the
    one that bolds more, then to the strictest (a wrong bold phrase is worse than none). The grid too."""
    part = [r for r in records if r["split"] == "fold0" and r["reader"] == "off"]
    best: dict = {}
    grid = []
    for qtype in ("number", "time"):
        for confidence in (0.0, 0.5, 0.6, 0.7, 0.8, 0.9):
            for words in (0, 1, 2, 3, 4):
                for gap, event in ((g, e) for g in (10, 20, 40, 80, 10_000) for e in (False, True)):
                    gates = {"types": frozenset({qtype}), "min_confidence": confidence, "min_words": words, "max_gap": gap,
                             "event": event}
                    cells = score(part, gates=gates)["off"]
                    bolded = sum(c[qtype]["bolded"] for c in cells.values() if qtype in c)
                    right = sum(round(c[qtype]["strict"] * c[qtype]["bolded"]) for c in cells.values() if c.get(qtype, {}).get("bolded"))
                    row = {"type": qtype, "min_confidence": confidence, "min_words": words, "max_gap": gap, "event": event,
                           "bolded": bolded, "strict": round(right / bolded, 4) if bolded else None}
                    grid.append(row)
                    rank = (row["strict"] or 0.0, bolded, confidence, words, -gap, event)
                    if bolded >= MIN_BOLDED and (qtype not in best or rank > best[qtype][0]):
                        best[qtype] = (rank, row)
    best = {qtype: row for qtype, (_, row) in best.items()}
    return {"best": best, "grid": grid}


def print_table(result: dict) -> None:
    print(f"{'reader':<6} {'set/split':<15} {'type':<7} {'n':>5} {'bold':>5} {'cover':>6} {'strict':>7} {'lenient':>7}")
    for reader, sets in result.items():
        if reader.startswith("_"):
            continue
        for name, types in sorted(sets.items()):
            for qtype in ("number", "time", "place", "person", "other", "all"):  # noqa: SIM118
                c = types.get(qtype)
                if c is None:
                    continue
                fmt = (lambda v: f"{v:.3f}" if v is not None else "-")
                print(f"{reader:<6} {name:<15} {qtype:<7} {c['questions']:>5} {c['bolded']:>5} {c['coverage']:>6.3f} "
                      f"{fmt(c['strict']):>7} {fmt(c['lenient']):>7}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="xquad-ar,xquad-en,arcd,seed")
    parser.add_argument("--readers", default="off,on", help="READER values to compare (off,on)")
    parser.add_argument("--limit", type=int, default=0, help="questions per set (0: all)")
    parser.add_argument("--records", type=Path, default=ROOT / "data" / "logs" / "span-records.jsonl")
    parser.add_argument("--fresh", action="store_true", help="ask every question again")
    parser.add_argument("--check", action="store_true", help="recompute each span from its record; count differences")
    parser.add_argument("--tune", action="store_true", help="search the gates on XQuAD fold 0 (READER=off) and print the best")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    args.records.parent.mkdir(parents=True, exist_ok=True)
    records = collect(load_sets(args.sets.split(",")), args.readers.split(","), args.limit, args.records, args.fresh)
    if args.tune:
        tuned = tune(records)
        for qtype, row in tuned["best"].items():
            print(f"tuned {qtype}: {row}")
        if args.json:
            args.json.write_text(json.dumps(tuned, indent=1), encoding="utf-8")
        return 0
    result = score(records, args.check)
    print("shown (the pipeline's Excerpt.answer):")
    print_table(result)
    if args.check:
        print(f"spans recomputed from the records that differ from the pipeline's: {result.pop('_drift')}")
    dropped = sorted(set(GATES) - SHIPPED_TYPES)
    if dropped:  # what the types left out would have shown, with their tuned gates (from the same records)
        everything = score(records, gates={"types": frozenset(GATES)})
        result["dropped"] = {reader: {name: {t: cells[t] for t in dropped if t in cells} for name, cells in sets.items()}
                             for reader, sets in everything.items()}
        print(f"not shown ({', '.join(dropped)}), with their tuned gates:")
        print_table(result["dropped"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
