"""snowballstemmer's pure-Python Arabic stemmer against PyStemmer (the same Snowball algorithm compiled;
snowballstemmer hands its work to it when it is installed): identical stems?, microseconds a word, and what
it does to answering (the composer stems every word of the candidate sentences), interleaved in one run.

    python bench/compare_stemmers.py --index-dir data/ant --questions 150 --rounds 2

Vocabulary: the distinct Arabic words of every 10th ANT article, XQuAD-ar and ARCD-train. Questions: ANT
headlines (every 200th article), each round with an empty stem cache (a server meeting new words).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

from common import ANT, SHARED_DATA, machine_note, percentile

from retrieval.pipeline import Pipeline
from retrieval.settings import Settings
from retrieval.text import arabic


def variants() -> dict:
    from snowballstemmer.arabic_stemmer import ArabicStemmer

    out = {"snowballstemmer (Python)": ArabicStemmer}
    try:
        import Stemmer

        out["PyStemmer (C)"] = lambda: Stemmer.Stemmer("arabic")
    except ImportError:
        print("PyStemmer is not installed: only the Python stemmer is measured", file=sys.stderr)
    return out


def vocabulary() -> list[str]:
    words: set[str] = set()
    with gzip.open(ANT, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % 10 == 0:
                words.update(arabic.tokenize(json.loads(line).get("text", "")))
    for name in ("xquad/xquad.ar.json", "arcd/arcd-train.json"):
        for article in json.loads((SHARED_DATA / name).read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                words.update(arabic.tokenize(paragraph["context"]))
    return sorted(w for w in words if "\u0600" <= w[0] <= "\u06ff")


def headlines(n: int) -> list[str]:
    out = []
    with gzip.open(ANT, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            title = json.loads(line).get("title") if i % 200 == 0 else None
            if title:
                out.append(title)
            if len(out) >= n:
                break
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=Path("data/ant"))
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    makers = variants()
    words = vocabulary()
    stems = {}
    print(machine_note())
    print(f"\n{len(words):,} distinct Arabic words\n\n| stemmer | us / word (median of {args.rounds}) |\n|---|---|")
    for name, make in makers.items():
        stemmer, times = make(), []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            stems[name] = [stemmer.stemWord(w) for w in words]
            times.append((time.perf_counter() - t0) / len(words) * 1e6)
        print(f"| {name} | {percentile(times, 50):.2f} |")
    if len(stems) == 2:
        a, b = stems.values()
        differ = [(w, x, y) for w, x, y in zip(words, a, b) if x != y]
        print(f"\nstems that differ: {len(differ)} of {len(words):,} {differ[:5]}")
    pipeline = Pipeline.load(Settings(index_dir=args.index_dir))
    questions = headlines(args.questions)
    for q in questions[:5]:
        pipeline.answer(q)  # warm-up (index pages, the encoder)
    results: dict[str, dict[str, list[float]]] = {name: {"compose_ms": [], "total_ms": []} for name in makers}
    answers: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for name, make in makers.items():
            arabic._local.stemmer = make()  # this thread's stemmer (the pipeline answers on this thread)  # noqa: SLF001
            arabic.stem.cache_clear()
            texts = []
            for q in questions:
                answer = pipeline.answer(q)
                texts.append(answer.text)
                for key in results[name]:
                    results[name][key].append(answer.timings_ms.get(key, 0.0))
            answers[name] = texts
    print(f"\n{args.index_dir}: {len(questions)} headline questions x {args.rounds} rounds, empty stem cache each round\n")
    print("| stemmer | compose p50 / p95 ms | total p50 / p95 ms |\n|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {percentile(r['compose_ms'], 50):.1f} / {percentile(r['compose_ms'], 95):.1f} | "
              f"{percentile(r['total_ms'], 50):.1f} / {percentile(r['total_ms'], 95):.1f} |")
    if len(answers) == 2:
        a, b = answers.values()
        print(f"\nanswers identical: {sum(x == y for x, y in zip(a, b))} of {len(a)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
