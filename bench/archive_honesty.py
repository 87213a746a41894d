"""Honesty at archive scale: run evaluate.py --archive over the archive-scale sets (eval/archive.py) and
write the tables of bench/results/archive_honesty.md.

    python bench/archive_honesty.py run [--n 500] [--sets seed_answerable,...] [--limit-other 100]
    python bench/archive_honesty.py report [--n 500] > bench/results/archive_honesty.md

``run`` asks the sets one evaluate.py process each, in priority order (seed, dialect and the hand-written
news set, then ARCD, then XQuAD-ar and XQuAD-en on their _s200 samples (every 6th question), then the other
XQuAD languages' samples with --limit), and keeps
each result as data/archive/ant-<n>/results/<set>[-limit<L>].json: a killed run resumes where it stopped.
``report`` turns the results into one table per set (answerable and unanswerable side by side) with the
command that reproduces each line; of several results for one set it shows the most complete (all questions,
then the _s200 sample, then a --limit run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST = ["seed_answerable", "seed_unanswerable", "dialect_answerable", "dialect_unanswerable", "news_unanswerable",
         "arcd_unanswerable", "arcd_answerable", "xquad_ar_answerable_s200", "xquad_ar_unanswerable_s200",
         "xquad_en_answerable_s200", "xquad_en_unanswerable_s200"]
OTHER_LANGUAGES = ("de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")


def plan(limit_other: int | None, full_limit: int | None) -> list[tuple[str, int | None]]:
    steps: list[tuple[str, int | None]] = [(name, full_limit if name.startswith("xquad") else None) for name in FIRST]
    steps += [(f"xquad_{lang}_{kind}_s200", limit_other) for lang in OTHER_LANGUAGES for kind in ("answerable", "unanswerable")]
    return steps


def result_path(base: Path, name: str, limit: int | None) -> Path:
    return base / "results" / (f"{name}-limit{limit}.json" if limit else f"{name}.json")


def command(base: Path, name: str, limit: int | None, json_out: Path | None = None) -> list[str]:
    rel = base.relative_to(ROOT) if base.is_relative_to(ROOT) else base
    cmd = [".venv/bin/python", "evaluate.py", "--archive", f"{rel}/sets/{name}.jsonl"]
    if limit:
        cmd += ["--limit", str(limit)]
    if json_out is not None:
        cmd += ["--json", str(json_out.relative_to(ROOT) if json_out.is_relative_to(ROOT) else json_out)]
    return cmd


def run(base: Path, steps: list[tuple[str, int | None]]) -> None:
    for name, limit in steps:
        out = result_path(base, name, limit)
        if out.is_file() or not (base / "sets" / f"{name}.jsonl").is_file():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_suffix(".partial.json")
        cmd = command(base, name, limit, partial)
        print("$", " ".join(cmd), flush=True)
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        print(done.stdout[-1500:], done.stderr[-800:], flush=True)
        if done.returncode != 0 or not partial.is_file():
            print(f"failed: {name} (exit {done.returncode})", flush=True)
            continue
        metrics = json.loads(partial.read_text(encoding="utf-8"))
        metrics["wall_seconds"] = round(time.perf_counter() - started, 1)
        metrics["command"] = " ".join(command(base, name, limit))
        metrics.pop("failures", None)
        out.write_text(json.dumps(metrics, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        partial.unlink()


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f} %)" if whole else "-"


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(base: Path) -> str:
    manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    results = {}
    for path in sorted((base / "results").glob("*.json")):
        if not path.name.endswith(".partial.json"):
            results[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    best: dict[tuple[str, str], str] = {}  # (group, kind) -> the most complete result: all questions, the sample, a --limit
    for stem in sorted(results, key=lambda s: ("-limit" in s, "_s200" in s)):
        group, kind = stem.split("-limit")[0].removesuffix("_s200").rsplit("_", 1)
        best.setdefault((group, kind), stem)
    groups: dict[str, list[str]] = {}
    for (group, _kind), stem in sorted(best.items()):
        groups.setdefault(group, []).append(stem)
    order = ["seed", "dialect", "news", "arcd", "xquad_ar", "xquad_en"] + [f"xquad_{lang}" for lang in OTHER_LANGUAGES]
    lines = [f"Slice {base.name}: {manifest['articles']} articles, {manifest['characters']:,} characters, "
             f"{manifest['dates'][0]} to {manifest['dates'][1]}, sections {' + '.join(manifest['sections'])}, "
             f"{len(manifest['sources'])} (source, section) groups.", ""]
    ordered = sorted(groups, key=lambda g: order.index(g) if g in order else len(order))
    lines += ["| set | answerable: questions | R@1 / R@3 / R@5 | answer recall | sure (precision) | not sure | abstained "
              "| unanswerable: questions | abstained | flagged | sure |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for group in ordered:
        row = [group] + [""] * 10
        for stem in groups[group]:
            m, un = results[stem], results[stem]["unsure"]
            if m["n_questions"]:
                n, pr = m["n_questions"], m["passage_recall"]
                row[1:7] = [f"{n}{' (' + stem.split('_', 2)[-1].split('_', 1)[-1] + ')' if stem != group + '_answerable' else ''}",
                            " / ".join(f"{pr[k]:.2f}" for k in ("1", "3", "5")), f"{m['answer_recall']:.3f}",
                            f"{100 * un['answered_sure'] / n:.0f} % ({_f(un['sure_recall'])})", f"{100 * un['answered_unsure'] / n:.0f} %",
                            f"{100 * un['answerable_abstained'] / n:.0f} %"]
            else:
                u, abst, flagged = un["unanswerable"], m["abstention"]["abstained_correctly"], un["unanswerable_flagged"]
                row[7:11] = [f"{u}{' (' + stem.split('unanswerable', 1)[-1].lstrip('_') + ')' if stem != group + '_unanswerable' else ''}",
                             f"{100 * abst / u:.0f} %", f"{100 * flagged / u:.0f} %", f"{100 * (u - abst - flagged) / u:.0f} %"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for group in ordered:
        lines += [f"### {group}", "",
                  "| set | questions | passage R@1 / R@3 / R@5 | answer recall | answered sure (share) | precision of sure "
                  "| not sure | abstained | unanswerable: abstained / flagged / sure | seconds |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        commands = []
        for stem in sorted(groups[group], key=lambda s: ("unanswerable" in s, s)):
            m = results[stem]
            name = stem.split("-limit")[0]
            un = m["unsure"]
            if m["n_questions"]:
                n = m["n_questions"]
                pr = m["passage_recall"]
                row = [stem, str(n), " / ".join(f"{pr[k]:.3f}" for k in ("1", "3", "5")), f"{m['answer_recall']:.3f}",
                       _pct(un["answered_sure"], n), _f(un["sure_recall"]), _pct(un["answered_unsure"], n),
                       _pct(un["answerable_abstained"], n), "", str(m.get("wall_seconds", ""))]
            else:
                u = un["unanswerable"]
                abst, flagged = m["abstention"]["abstained_correctly"], un["unanswerable_flagged"]
                rows = [json.loads(x) for x in (base / "sets" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
                in_slice = sum(bool(r.get("gold_in_slice")) for r in rows[:u])
                note = f" (gold in slice: {in_slice})" if in_slice else ""
                row = [stem, str(u), "", "", "", "", "", "",
                       f"{_pct(abst, u)} / {_pct(flagged, u)} / {_pct(u - abst - flagged, u)}{note}", str(m.get("wall_seconds", ""))]
            lines.append("| " + " | ".join(row) + " |")
            commands.append(f"    {m.get('command', '')}")
        lines += ["", *commands, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["run", "report"])
    parser.add_argument("--n", type=int, default=500, help="the slice (data/archive/ant-<n>)")
    parser.add_argument("--sets", help="comma-separated set names (default: the priority plan)")
    parser.add_argument("--limit-other", type=int, default=50, help="--limit for the other XQuAD languages (default 50)")
    parser.add_argument("--limit", type=int, help="--limit for XQuAD-ar and -en too (default: all questions)")
    args = parser.parse_args(argv)
    base = ROOT / "data" / "archive" / f"ant-{args.n}"
    if args.action == "run":
        steps = [(s, args.limit) for s in args.sets.split(",")] if args.sets else plan(args.limit_other, args.limit)
        run(base, steps)
    else:
        print(report(base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
