"""Archive-scale evaluation sets: questions asked over a fixed slice of the ANT news archive, with
their own paragraphs inserted (answerable) or absent (unanswerable).

Usage (from the repository root; ``python eval/archive.py ...`` works the same):

    python -m eval.archive build [--n 500] [--out data/archive]   # slice, corpora, sets, manifest
    python -m eval.archive check [--n 500]                         # the hand-written set against the slice
    python -m eval.archive commands [--n 500]                      # the evaluate.py line of every set
    python -m eval.archive index [--n 500]                         # build the corpora's evaluation indexes

The slice (``slice_records``): the first ``n`` articles of the archive's middleEast and
internationalNews sections, taken round-robin over the (source, section) groups in file order
(AlArabiya has no middleEast section: 9 groups), so every source and both sections are in it; the
archive file's order is fixed, so the slice is too. Everything goes under ``<out>/ant-<n>/``:

    corpora/slice/           the slice alone (ant.jsonl)
    corpora/slice-seed/      the slice + the five seed articles of corpus/ (copied unchanged)
    corpora/slice-xquad/     the slice + XQuAD's 240 Arabic paragraphs (xquad-ar.jsonl, one document per paragraph
                             titled by its article, as retrieval.evaluation.squad_corpus does)
    corpora/slice-arcd/      the slice + ARCD-train's 202 paragraphs (arcd.jsonl, likewise)
    sets/<name>.jsonl        one file per set; every item: question, answers, all, id, set, language, article,
                             fold, answerable, corpus (relative to the set file), gold_in_slice (unanswerable items:
                             whether a gold answer occurs anyway in the slice text, after normalisation)
    manifest.json            slice size, sources, counts and the digest of every file

Sets: arcd_{answerable,unanswerable}; xquad_<lang>_{answerable,unanswerable} for the 12 languages (questions
in that language over the Arabic paragraphs, Arabic gold answers); seed_answerable, dialect_answerable,
seed_unanswerable, dialect_unanswerable (eval/*.jsonl over slice-seed); news_unanswerable (the hand-written
eval/archive_unanswerable.jsonl over the slice); xquad_<lang>_<kind>_s200 hold every 6th XQuAD question (199, all 48
articles) for a quicker run. Answerable items name the corpus with their paragraphs,
unanswerable items the corpus without them (the slice; slice-seed for the seed sets, whose questions were
written as unanswerable over the seed articles).

Folds: every item's ``article`` (XQuAD and ARCD: the article title, the same across XQuAD's languages;
seed QA: the seed file holding its first gold answer; seed/dialect unanswerable: the question itself;
hand-written: the ANT article it is about) goes to one of K=5 folds by a stable hash (``fold_of``), so a
learned model is cross-fitted by article. Scoring: ``python evaluate.py --archive <set file>``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
ANT = SHARED / "ant-news" / "ant_news_2018.jsonl.gz"
XQUAD_AR = SHARED / "xquad" / "xquad.ar.json"
XQUAD_OTHER = SHARED / "xquad" / "other-languages"
ARCD = SHARED / "arcd" / "arcd-train.json"
SEED_CORPUS = ROOT / "corpus"
EVAL = ROOT / "eval"
NEWS_UNANSWERABLE = EVAL / "archive_unanswerable.jsonl"

SECTIONS = ("middleEast", "internationalNews")
DEFAULT_N = 500
FOLDS = 5
SAMPLE_STEP = 6
LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")

# --- normalisation (as eval/check_gold.py and retrieval.evaluation.norm_answer) -----------------------------

_TASHKEEL = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]")
_ALEF = re.compile(r"[\u0622\u0623\u0625\u0671]")


def normalize(text: str) -> str:
    """Tashkeel and tatweel out, alef forms -> ا, ى -> ي, ة -> ه, whitespace collapsed, lower case."""
    text = _ALEF.sub("\u0627", _TASHKEEL.sub("", text))
    text = text.replace("\u0649", "\u064a").replace("\u0629", "\u0647")
    return " ".join(text.split()).lower()


def fold_of(article: str, k: int = FOLDS) -> int:
    """The fold of an article key: stable across runs, machines and Python versions."""
    return int(hashlib.sha256(article.encode("utf-8")).hexdigest()[:8], 16) % k


# --- the slice ---------------------------------------------------------------------------------------------


def read_archive(path: Path = ANT, max_lines: int | None = None) -> Iterator[dict]:
    """The archive's records in file order (the first ``max_lines`` lines when given)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle):
            if max_lines is not None and line_no >= max_lines:
                return
            if line.strip():
                yield json.loads(line)


def slice_records(n: int = DEFAULT_N, records: Iterable[dict] | None = None, sections: tuple[str, ...] = SECTIONS) -> list[dict]:
    """The first ``n`` articles of ``sections``, round-robin over the (source, section) groups in the
    order the groups first appear, each group in file order. Deterministic for a given file."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in records if records is not None else read_archive():
        if record.get("category") in sections:
            groups.setdefault((record.get("source", ""), record["category"]), []).append(record)
    chosen: list[dict] = []
    queues = list(groups.values())
    depth = 0
    while len(chosen) < n and any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue) and len(chosen) < n:
                chosen.append(queue[depth])
        depth += 1
    return chosen


# --- the inserted paragraphs -------------------------------------------------------------------------------


def squad_paragraphs(path: Path, prefix: str) -> tuple[list[dict], dict[str, dict]]:
    """(documents, questions by id) of a SQuAD-format file: one document per paragraph, titled by its
    article (as squad_corpus does); each question keeps its article title and document id."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    docs, questions = [], {}
    for a_index, article in enumerate(data):
        title = article.get("title", "").replace("_", " ").strip()
        for p_index, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{prefix}-{a_index:03d}-{p_index:02d}"
            docs.append({"id": doc_id, "title": title, "text": paragraph["context"]})
            for q in paragraph["qas"]:
                questions[q["id"]] = {"question": q["question"].strip(), "answers": sorted({a["text"].strip() for a in q["answers"]}),
                                      "title": title, "doc": doc_id}
    return docs, questions


def _jsonl(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, content: str) -> None:
    """Write ``content`` only when it differs (an unchanged corpus keeps its mtime: its index stays valid)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != content:
        path.write_text(content, encoding="utf-8")


def _slice_rows(records: list[dict]) -> list[dict]:
    keys = ("id", "source", "category", "url", "title", "date", "author", "abstract", "text")
    return [{k: r[k] for k in keys if k in r} for r in records]


def seed_documents(folder: Path = SEED_CORPUS) -> dict[str, str]:
    """Seed file name -> its normalised text."""
    return {p.name: normalize(p.read_text(encoding="utf-8")) for p in sorted(Path(folder).glob("*.txt"))}


# --- the sets ----------------------------------------------------------------------------------------------


class SliceText:
    """The slice's normalised text, for 'does this string occur anywhere in it' checks."""

    def __init__(self, records: Iterable[dict]) -> None:
        self.text = "\n".join(normalize(f"{r.get('title', '')}\n{r.get('text', '')}") for r in records)

    def __contains__(self, answer: str) -> bool:
        needle = normalize(answer)
        return bool(needle) and needle in self.text

    def any_of(self, answers: Iterable[str]) -> bool:
        return any(a in self for a in answers)


def _item(question: str, answers: list[str], *, qid: str, set_name: str, language: str, article: str, answerable: bool,
          corpus: str, all_: bool = False, **extra) -> dict:
    item = {"question": question, "answers": answers, "all": all_, "id": qid, "set": set_name, "language": language,
            "article": article, "fold": fold_of(article), "answerable": answerable, "corpus": f"../corpora/{corpus}"}
    item.update(extra)
    return item


def squad_sets(name: str, questions_by_lang: dict[str, dict[str, dict]], gold: dict[str, dict], sliced: SliceText) -> dict[str, list[dict]]:
    """``<name>[_<lang>]_answerable`` / ``_unanswerable``: each language's questions, Arabic gold and article
    from ``gold`` (the Arabic file, same question ids)."""
    sets: dict[str, list[dict]] = {}
    in_slice = {qid: sliced.any_of(g["answers"]) for qid, g in gold.items()}
    for lang, questions in questions_by_lang.items():
        stem = name if len(questions_by_lang) == 1 else f"{name}_{lang}"
        for answerable in (True, False):
            rows = []
            for qid, q in questions.items():
                if qid not in gold or not q["question"]:
                    continue
                g = gold[qid]
                extra = {"doc": g["doc"]} if answerable else {"doc": g["doc"], "gold_in_slice": in_slice[qid]}
                rows.append(_item(q["question"], g["answers"], qid=qid, set_name=stem, language=lang, article=f"{name}:{g['title']}",
                                  answerable=answerable, corpus=f"slice-{name}" if answerable else "slice", **extra))
            sets[f"{stem}_{'answerable' if answerable else 'unanswerable'}"] = rows
    return sets


def seed_sets(seeds: dict[str, str], sliced: SliceText) -> dict[str, list[dict]]:
    """The seed and dialect sets of eval/ over slice-seed, each answerable item's article the seed file
    holding its first gold answer found; unanswerable items are their own article."""
    sets: dict[str, list[dict]] = {}
    for name, path in (("seed_answerable", "seed_qa.jsonl"), ("dialect_answerable", "dialect_qa.jsonl"),
                       ("seed_unanswerable", "unanswerable.jsonl"), ("dialect_unanswerable", "dialect_unanswerable.jsonl")):
        rows = []
        answerable = name.endswith("_answerable")
        for i, record in enumerate(_read_jsonl(EVAL / path)):
            answers = list(record.get("answers", []))
            latin_only = re.search(r"[A-Za-z]{3}", record["question"]) and not re.search("[\u0600-\u06ff]", record["question"])
            language = "en" if latin_only else "ar"
            extra = {"dialect": record["dialect"]} if "dialect" in record else {}
            if answerable:
                article = next((f"seed:{doc}" for a in answers for doc, text in seeds.items() if normalize(a) in text), f"seed:q{i}")
            else:
                article = "seed-unanswerable:" + hashlib.sha256(record["question"].encode("utf-8")).hexdigest()[:12]
                extra["gold_in_slice"] = None  # no gold: whether the archive answers it is not known
            rows.append(_item(record["question"], answers, qid=f"{path.split('.')[0]}:{i}", set_name=name.rsplit("_", 1)[0],
                              language=language, article=article, answerable=answerable, corpus="slice-seed",
                              all_=bool(record.get("all", False)), **extra))
        sets[name] = rows
    return sets


def news_set(sliced: SliceText, path: Path = NEWS_UNANSWERABLE) -> list[dict]:
    """The hand-written unanswerable news questions, over the slice alone; ``gold_in_slice``: one of the
    question's ``absent`` strings does occur in this slice (a larger slice than the checked one may answer it)."""
    rows = []
    for i, record in enumerate(_read_jsonl(path)):
        rows.append(_item(record["question"], [], qid=f"news:{i}", set_name="news", language="ar", article=f"ant:{record['about']}",
                          answerable=False, corpus="slice", about=record["about"], absent=record["absent"],
                          gold_in_slice=sliced.any_of(record["absent"])))
    return rows


# --- the absence checker -----------------------------------------------------------------------------------


def check_news(records: list[dict], path: Path = NEWS_UNANSWERABLE) -> list[str]:
    """Problems of the hand-written set against ``records`` (a slice): every question needs an ``about``
    article that is in the slice, ``mention`` strings that occur in it (the archive covers the topic),
    and ``absent`` strings (the answer or the phrases that would give it) that occur nowhere in the slice."""
    problems = []
    by_id = {r["id"]: r for r in records}
    sliced = SliceText(records)
    for n, item in enumerate(_read_jsonl(path), 1):
        where = f"{Path(path).name}:{n}"
        if set(item) != {"question", "about", "mention", "absent"}:
            problems.append(f"{where}: expected keys about/absent/mention/question, got {sorted(item)}")
            continue
        about = by_id.get(item["about"])
        if about is None:
            problems.append(f"{where}: article {item['about']} is not in the slice")
            continue
        text = normalize(f"{about.get('title', '')}\n{about['text']}")
        for m in item["mention"]:
            if normalize(m) not in text:
                problems.append(f"{where}: {m!r} is not in article {item['about']}")
        if not item["absent"]:
            problems.append(f"{where}: no 'absent' strings")
        for a in item["absent"]:
            if a in sliced:
                problems.append(f"{where}: {a!r} occurs in the slice (question: {item['question']})")
    return problems


# --- build ---------------------------------------------------------------------------------------------------


def build(n: int = DEFAULT_N, out: Path = ROOT / "data" / "archive", records: list[dict] | None = None,
          languages: tuple[str, ...] = LANGUAGES) -> Path:
    """Write the slice, the corpora, the sets and the manifest under ``out/ant-<n>``; return that folder."""
    started = time.perf_counter()
    chosen = slice_records(n, records)
    base = Path(out) / f"ant-{n}"
    corpora, sets_dir = base / "corpora", base / "sets"
    slice_text = _jsonl(_slice_rows(chosen))
    xquad_docs, xquad_ar = squad_paragraphs(XQUAD_AR, "xquad-ar")
    arcd_docs, arcd = squad_paragraphs(ARCD, "arcd")
    for name in ("slice", "slice-seed", "slice-xquad", "slice-arcd"):
        _write(corpora / name / "ant.jsonl", slice_text)
    for seed in sorted(SEED_CORPUS.glob("*.txt")):
        target = corpora / "slice-seed" / seed.name
        if not target.is_file() or target.read_bytes() != seed.read_bytes():
            shutil.copyfile(seed, target)
    _write(corpora / "slice-xquad" / "xquad-ar.jsonl", _jsonl(xquad_docs))
    _write(corpora / "slice-arcd" / "arcd.jsonl", _jsonl(arcd_docs))

    sliced = SliceText(chosen)
    by_lang = {"ar": xquad_ar}
    for lang in languages:
        if lang != "ar":
            by_lang[lang] = squad_paragraphs(XQUAD_OTHER / f"xquad.{lang}.json", f"xquad-{lang}")[1]
    sets = {}
    sets.update(squad_sets("arcd", {"ar": arcd}, arcd, sliced))
    sets.update(squad_sets("xquad", by_lang, xquad_ar, sliced))
    sets.update(seed_sets(seed_documents(), sliced))
    if NEWS_UNANSWERABLE.is_file() and {r["id"] for r in chosen} >= {r["about"] for r in _read_jsonl(NEWS_UNANSWERABLE)}:
        sets["news_unanswerable"] = news_set(sliced)
    for name in [n for n in sets if n.startswith("xquad_")]:  # every 6th question: all 48 articles, for a quicker run
        sets[f"{name}_s200"] = sets[name][::SAMPLE_STEP]
    for name, rows in sets.items():
        _write(sets_dir / f"{name}.jsonl", _jsonl(rows))

    files = sorted(p for p in base.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "n": n, "sections": list(SECTIONS), "archive": str(ANT.name), "articles": len(chosen),
        "characters": sum(len(r["text"]) for r in chosen),
        "sources": _count(f"{r.get('source')}/{r['category']}" for r in chosen),
        "dates": [min(r["date"] for r in chosen), max(r["date"] for r in chosen)] if chosen else None,
        "folds": FOLDS,
        "sets": {name: {"items": len(rows), "answerable": bool(rows and rows[0]["answerable"]),
                        "corpus": rows[0]["corpus"].rsplit("/", 1)[-1] if rows else None,
                        "gold_in_slice": sum(bool(r.get("gold_in_slice")) for r in rows)} for name, rows in sets.items()},
        "files": {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in files},
    }
    _write(base / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
    print(f"{base}: {len(chosen)} articles, {len(sets)} sets in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return base


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def read_set(path: Path, limit: int | None = None) -> tuple[list, list, Path]:
    """(answerable QAItems, unanswerable QAItems, corpus folder) of one set file, for evaluate.py --archive."""
    from retrieval.evaluation import QAItem

    rows = _read_jsonl(path)[:limit] if limit else _read_jsonl(path)
    corpora = {r["corpus"] for r in rows}
    if len(corpora) != 1:
        raise ValueError(f"{path}: its items name {len(corpora)} corpora, expected one")
    corpus = (Path(path).parent / corpora.pop()).resolve()
    if not corpus.is_dir():
        raise ValueError(f"{path}: corpus {corpus} is missing (python -m eval.archive build)")
    qa = [QAItem(r["question"], r["answers"], r.get("all", False)) for r in rows if r["answerable"]]
    held = [QAItem(r["question"], r["answers"], r.get("all", False)) for r in rows if not r["answerable"]]
    return qa, held, corpus


def build_indexes(base: Path, order: tuple[str, ...] = ("slice", "slice-seed", "slice-arcd", "slice-xquad")) -> None:
    """The evaluation index of every corpus (retrieval.evaluation.cached_index: data/eval-cache/, default
    settings; resumable, and each reuses the vectors of the ones before)."""
    from retrieval.evaluation import cached_index
    from retrieval.settings import Settings

    for name in order:
        started = time.perf_counter()
        settings = cached_index(base / "corpora" / name, Settings())
        print(f"index {name}: {settings.index.index_dir} in {time.perf_counter() - started:.0f} s", flush=True)


def commands(base: Path) -> list[str]:
    rel = base.relative_to(ROOT) if base.is_relative_to(ROOT) else base
    return [f".venv/bin/python evaluate.py --archive {rel}/sets/{p.name}" for p in sorted((base / "sets").glob("*.jsonl"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eval/archive.py", description=__doc__.split("\n")[0],
                                     epilog="\n".join(__doc__.split("\n")[2:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["build", "check", "commands", "index"])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"articles in the slice (default {DEFAULT_N})")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "archive", help="where ant-<n>/ goes (default data/archive)")
    args = parser.parse_args(argv)
    base = args.out / f"ant-{args.n}"
    if args.action == "build":
        build(args.n, args.out)
    elif args.action == "check":
        problems = check_news(slice_records(args.n))
        for p in problems:
            print(p)
        print(f"{len(problems)} problem(s) in {NEWS_UNANSWERABLE.name}", file=sys.stderr)
        return 1 if problems else 0
    elif args.action == "commands":
        print("\n".join(commands(base)))
    else:
        build_indexes(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
