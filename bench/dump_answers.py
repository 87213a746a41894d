"""Dump every composed answer of the evaluation sets, and compare two dumps (a refactor's before and after).

    python bench/dump_answers.py --out data/dumps/before            # every set (default folder: data/dumps/<label>/)
    python bench/dump_answers.py --sets seed,dialect --limit 5 --out data/dumps/quick
    python bench/dump_answers.py --compare data/dumps/before data/dumps/after    # exit 1 on any difference

Each question is asked through ``service.ask`` (what the front ends and evaluate.py call) with the default
settings (conversations turn by turn
in one ``Conversation``), on the cached evaluation index ``evaluate.py`` uses (``retrieval/evaluation.py``);
the sets are built by the scripts that score them:

* ``seed``, ``dialect``: eval/seed_qa + unanswerable + conversations, eval/dialect_* over corpus/;
* ``xquad-ar``: XQuAD-ar over its 240 paragraphs (``evaluate.py --squad``); ``xquad-en``: XQuAD's English
  questions over the same paragraphs (``bench/eval_names.py``);
* ``arcd-train``: ARCD's training part over its paragraphs (``evaluate.py --squad``);
* ``dated``: eval/dated_questions.jsonl (``bench/dated_questions.py``), on ``--dated-index`` (an ANT index, as
  ``bench/eval_dated.py --index-dir``) when it is built; otherwise on a cached index of the 402 ANT articles that
  are the gold of those questions (``--dated-articles N``: fewer, drawn by kind in turn); every question asked;
* ``typos-seed``, ``typos-dialect``: ``bench/eval_typos.py``'s typo'd seed and dialect questions (fixed seed).

One gzip JSON Lines file per set (one line per answer, in question order): set, n, part, question, conversation
and turn, decision (answered / unsure / abstained / refused / small_talk), refusal reason, text, message, excerpt
texts and their answer phrases, held-back excerpts, citations (the sources' doc ids in number order), confidence
(6 decimals), corrected words, resolved question, language, suggestions, and the ranked passages (chunk index,
doc id). ``summary.json``: answers per set and decision, seconds, the index of each set.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import ANT, ROOT, SHARED_DATA
from eval_dated import read_questions
from eval_names import XQUAD_AR, xquad_english
from eval_typos import with_typos
from tqdm import tqdm

from retrieval import service
from retrieval.evaluation import EVAL_CACHE, QAItem, cached_index, read_conversations, read_qa, read_squad, squad_corpus
from retrieval.models import Answer, Conversation
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

EVAL = ROOT / "eval"
ARCD = SHARED_DATA / "arcd" / "arcd-train.json"
TYPO_VARIANTS = 3  # eval_typos.py's default
SETS = ("seed", "dialect", "xquad-ar", "xquad-en", "arcd-train", "dated", "typos-seed", "typos-dialect")
COMPARED_OUT = ("set", "n")  # the record's key, not a field compared


@dataclass(frozen=True)
class Ask:
    part: str
    question: str
    conversation: int | None = None  # the conversation's number in its file (turns share one Conversation)
    turn: int | None = None


@dataclass
class SetSpec:
    corpus: Callable[[], Path]  # the corpus whose cached evaluation index answers the set
    asks: Callable[[], list[Ask]]
    index_dir: Path | None = None  # a built index instead of the corpus's cached one


def single(part: str, items: list[QAItem], limit: int | None) -> list[Ask]:
    return [Ask(part, item.question) for item in items[:limit]]


def conversations(part: str, path: Path, limit: int | None) -> list[Ask]:
    return [Ask(part, turn.question, c, t) for c, conv in enumerate(read_conversations(path)[:limit])
            for t, turn in enumerate(conv.turns)]


def squad_set(path: Path) -> Path:
    docs, _, _ = read_squad(path, 0)
    return squad_corpus(path, docs, 0)


def dated_corpus(questions: Path, articles: int | None) -> Path:
    """The ANT articles that are gold of ``questions`` (all, or at most ``articles``: whole questions, the kinds
    taken in turn: month 1, day 1, latest 1, month 2, ...), as a JSONL corpus under the evaluation cache,
    lines unchanged and in the archive's order; named by the questions' digest and the count."""
    by_kind: dict[str, list[dict]] = {}
    for question in read_questions(questions):
        by_kind.setdefault(question["kind"], []).append(question)
    queues = list(by_kind.values())
    wanted: set[str] = set()
    for question in [qs[rank] for rank in range(max(map(len, queues))) for qs in queues if rank < len(qs)]:
        if articles is not None and len(wanted | set(question["gold"])) > articles:
            continue
        wanted |= set(question["gold"])
    digest = hashlib.sha256(questions.read_bytes()).hexdigest()[:12]
    target = EVAL_CACHE / f"ant-dated-{digest}-{articles or 'all'}" / "corpus.jsonl"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(ANT, "rt", encoding="utf-8") as src, open(target.with_suffix(".tmp"), "w", encoding="utf-8") as dst:
            for line in src:
                if json.loads(line)["id"] in wanted:
                    dst.write(line)
        os.replace(target.with_suffix(".tmp"), target)
    return target


def set_specs(args: argparse.Namespace) -> dict[str, SetSpec]:
    limit = args.limit
    seed_corpus = lambda: ROOT / "corpus"
    dated_index = args.dated_index if (args.dated_index / "manifest.json").is_file() else None
    return {
        "seed": SetSpec(seed_corpus, lambda: single("qa", read_qa(EVAL / "seed_qa.jsonl"), limit)
                        + single("unanswerable", read_qa(EVAL / "unanswerable.jsonl"), limit)
                        + conversations("conversations", EVAL / "conversations.jsonl", limit)),
        "dialect": SetSpec(seed_corpus, lambda: single("qa", read_qa(EVAL / "dialect_qa.jsonl"), limit)
                           + single("unanswerable", read_qa(EVAL / "dialect_unanswerable.jsonl"), limit)
                           + conversations("conversations", EVAL / "dialect_conversations.jsonl", limit)),
        "xquad-ar": SetSpec(lambda: squad_set(XQUAD_AR), lambda: single("qa", read_squad(XQUAD_AR, 0)[1], limit)),
        "xquad-en": SetSpec(lambda: squad_set(XQUAD_AR), lambda: single("qa", xquad_english(0)[0], limit)),
        "arcd-train": SetSpec(lambda: squad_set(ARCD), lambda: single("qa", read_squad(ARCD, 0)[1], limit)),
        "dated": SetSpec(lambda: dated_corpus(args.dated_questions, args.dated_articles),
                         lambda: [Ask(q["kind"], q["question"]) for q in read_questions(args.dated_questions)[:limit]],
                         index_dir=dated_index),
        "typos-seed": SetSpec(seed_corpus, lambda: single("qa", with_typos(read_qa(EVAL / "seed_qa.jsonl"), TYPO_VARIANTS), limit)),
        "typos-dialect": SetSpec(seed_corpus, lambda: single("qa", with_typos(read_qa(EVAL / "dialect_qa.jsonl"), TYPO_VARIANTS), limit)),
    }


def decision(answer: Answer) -> str:
    if answer.refused == "small_talk":
        return "small_talk"
    if answer.refused:
        return "refused"
    if answer.abstained:
        return "abstained"
    return "unsure" if answer.unsure else "answered"


def record(name: str, n: int, ask: Ask, answer: Answer) -> dict:
    return {
        "set": name, "n": n, "part": ask.part, "question": ask.question, "conversation": ask.conversation, "turn": ask.turn,
        "decision": decision(answer), "refused": answer.refused,
        "text": answer.text, "message": answer.message,
        "excerpts": [e.text for e in answer.excerpts],
        "answer_phrases": [e.text[e.answer[0]:e.answer[1]] if e.answer else None for e in answer.excerpts],
        "more": [e.text for e in answer.more],
        "citations": [s.doc_id for s in sorted(answer.sources, key=lambda s: s.number)],
        "confidence": None if answer.confidence is None else round(float(answer.confidence), 6),
        "corrected": [list(pair) for pair in answer.corrected],
        "resolved_question": answer.resolved_question,
        "language": answer.language,
        "suggestions": [s.id for s in answer.suggestions],
        "passages": [[p.chunk_index, p.doc_id] for p in answer.passages],
    }


def write_gzip(path: Path, lines: list[str]) -> None:
    """Byte-identical for identical lines (no time stamp in the gzip header)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, mtime=0) as out:
        out.write("".join(lines).encode("utf-8"))
    os.replace(tmp, path)


def dump(args: argparse.Namespace) -> int:
    names = SETS if args.sets == "all" else tuple(s.strip() for s in args.sets.split(",") if s.strip())
    unknown = [n for n in names if n not in SETS]
    if unknown:
        print(f"error: unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}", file=sys.stderr)
        return 2
    out = args.out or ROOT / "data" / "dumps" / args.label
    out.mkdir(parents=True, exist_ok=True)
    specs = set_specs(args)
    pipelines: dict[Path, Pipeline] = {}
    indexes: dict[Path, Settings] = {}  # corpus -> settings on its cached index (checked once a run)
    summary: dict = {"sets": {}, "totals": {}, "limit": args.limit, "head": head(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    totals: Counter = Counter()
    started = time.perf_counter()
    for name in names:
        spec = specs[name]
        t0 = time.perf_counter()
        if spec.index_dir is not None:
            settings = Settings(index_dir=spec.index_dir)
        else:
            corpus = spec.corpus()
            if corpus not in indexes:
                print(f"[{name}] index of {corpus} (built when missing)", file=sys.stderr, flush=True)
                indexes[corpus] = cached_index(corpus, Settings())
            settings = indexes[corpus]
        if settings.index.index_dir not in pipelines:
            pipelines[settings.index.index_dir] = Pipeline.load(settings)
        pipeline = pipelines[settings.index.index_dir]
        build_s = time.perf_counter() - t0
        asks = spec.asks()
        lines, decisions, conversation, current = [], Counter(), None, None
        t1 = time.perf_counter()
        for n, ask in enumerate(tqdm(asks, desc=name, file=sys.stderr, mininterval=1 if sys.stderr.isatty() else 30)):
            if ask.conversation is None:
                conversation = None
            elif (ask.part, ask.conversation) != current:
                conversation, current = Conversation(), (ask.part, ask.conversation)
            row = record(name, n, ask, service.ask(pipeline, ask.question, service.Session(conversation=conversation)))
            decisions[row["decision"]] += 1
            lines.append(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        write_gzip(out / f"{name}.jsonl.gz", lines)
        totals.update(decisions)
        summary["sets"][name] = {"count": len(lines), "decisions": dict(sorted(decisions.items())),
                                 "index_dir": str(settings.index.index_dir), "index_s": round(build_s, 1),
                                 "answer_s": round(time.perf_counter() - t1, 1)}
        print(f"[{name}] {len(lines)} answers {dict(sorted(decisions.items()))} "
              f"(index {build_s:.0f} s, answers {time.perf_counter() - t1:.0f} s)", file=sys.stderr, flush=True)
    summary["totals"] = {"count": sum(totals.values()), "decisions": dict(sorted(totals.items()))}
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{summary['totals']['count']} answers in {summary['seconds']:.0f} s -> {out}", file=sys.stderr)
    return 0


def head() -> str | None:
    """The commit the dump ran on (read only; the working tree may differ from it)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def read_dump(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def shown(value: object, width: int = 240) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def compare(before: Path, after: Path, show: int) -> int:
    """Per set: identical answers, and each difference (question, field, before -> after). 1 when any differs."""
    files = sorted({p.name for p in before.glob("*.jsonl.gz")} | {p.name for p in after.glob("*.jsonl.gz")})
    if not files:
        print(f"error: no *.jsonl.gz in {before} or {after}", file=sys.stderr)
        return 2
    differing = 0
    for file in files:
        name = file.removesuffix(".jsonl.gz")
        if not (before / file).is_file() or not (after / file).is_file():
            print(f"## {name}: only in {before if (before / file).is_file() else after}")
            differing += 1
            continue
        old = {(r["n"], r["question"]): r for r in read_dump(before / file)}
        new = {(r["n"], r["question"]): r for r in read_dump(after / file)}
        same, diffs = 0, []
        for key in sorted(old.keys() | new.keys()):
            if key not in old or key not in new:
                diffs.append((key, "(answer)", "missing" if key not in old else "present", "present" if key not in old else "missing"))
                continue
            fields = sorted((old[key].keys() | new[key].keys()) - set(COMPARED_OUT))
            changed = [(key, f, old[key].get(f), new[key].get(f)) for f in fields if old[key].get(f) != new[key].get(f)]
            same += not changed
            diffs.extend(changed)
        answers = len(old.keys() | new.keys())
        changed_answers = len({d[0] for d in diffs})
        differing += changed_answers
        print(f"## {name}: {same}/{answers} identical, {changed_answers} differ ({len(diffs)} field differences)")
        for (n, question), field, was, now in diffs[:show]:
            print(f"- #{n} {question[:120]!r} {field}: {shown(was)} -> {shown(now)}")
        if len(diffs) > show:
            print(f"- ... {len(diffs) - show} more (--show N)")
    print("identical" if not differing else f"{differing} answer(s) differ (a set missing on one side counts one)")
    return 1 if differing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:5]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="diff two dump folders")
    parser.add_argument("--show", type=int, default=200, help="with --compare: field differences printed per set")
    parser.add_argument("--out", type=Path, help="dump folder (default data/dumps/LABEL)")
    parser.add_argument("--label", default="dump", help="the default folder's name")
    parser.add_argument("--sets", default="all", help=f"comma list of {', '.join(SETS)} (default all)")
    parser.add_argument("--limit", type=int, help="the first N questions of each part (conversations: the first N)")
    parser.add_argument("--dated-questions", type=Path, default=EVAL / "dated_questions.jsonl")
    parser.add_argument("--dated-index", type=Path, default=ROOT / "data" / "ant",
                        help="an ANT index for the dated set (eval_dated.py --index-dir), used when built")
    parser.add_argument("--dated-articles", type=int,
                        help="without --dated-index: index only the first N gold articles of the dated questions (default: all)")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare, args.show)
    # the evaluation cache (data/eval-cache) is relative: the repository root's, as evaluate.py run there uses
    args.out = args.out.resolve() if args.out else None
    args.dated_questions, args.dated_index = args.dated_questions.resolve(), args.dated_index.resolve()
    os.chdir(ROOT)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s: %(message)s")
    return dump(args)


if __name__ == "__main__":
    raise SystemExit(main())
