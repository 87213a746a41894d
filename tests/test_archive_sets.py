"""Archive-scale evaluation sets (eval/archive.py): built from a tiny slice of the real ANT file, no index.
Deterministic, folds by article, paragraphs present where the item is answerable and absent where not,
and the hand-written unanswerable news questions pass the absence checker against the default slice."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not (SHARED / "ant-news" / "ant_news_2018.jsonl.gz").is_file() or not (SHARED / "arcd").is_dir(),
                                reason="needs the shared data (ANT, XQuAD, ARCD)")


def _load_archive():
    spec = importlib.util.spec_from_file_location("eval_archive", ROOT / "eval" / "archive.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_archive"] = module
    spec.loader.exec_module(module)
    return module


archive = _load_archive()
LINES = 1900  # the archive's first lines: AlArabiya's culture and economy sections, then ~230 internationalNews articles
N = 120


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    records = list(archive.read_archive(archive.ANT, max_lines=LINES))
    return archive.build(N, tmp_path_factory.mktemp("a"), records=records, languages=("ar", "en", "zh"))


def _corpus(base: Path, name: str) -> dict[str, str]:
    """Document id (or seed file name) -> normalised text of one corpus folder."""
    docs = {}
    for path in sorted((base / "corpora" / name).iterdir()):
        if path.suffix == ".jsonl":
            docs.update({r["id"]: archive.normalize(r["text"]) for r in _rows(path)})
        else:
            docs[path.name] = archive.normalize(path.read_text(encoding="utf-8"))
    return docs


def test_slice_is_deterministic_and_round_robin():
    records = list(archive.read_archive(archive.ANT, max_lines=LINES))
    first = archive.slice_records(N, records)
    assert [r["id"] for r in first] == [r["id"] for r in archive.slice_records(N, records)]
    assert len(first) == N and all(r["category"] in archive.SECTIONS for r in first)
    mixed = [{"id": f"{s}{i}", "source": s, "category": "middleEast"} for s in "ab" for i in range(3)]
    assert [r["id"] for r in archive.slice_records(4, mixed)] == ["a0", "b0", "a1", "b1"]


def test_build_is_deterministic(built, tmp_path):
    records = list(archive.read_archive(archive.ANT, max_lines=LINES))
    again = archive.build(N, tmp_path, records=records, languages=("ar", "en", "zh"))
    first = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    second = json.loads((again / "manifest.json").read_text(encoding="utf-8"))
    assert first["files"] == second["files"] and first["articles"] == N
    expected = {"arcd_answerable", "arcd_unanswerable", "seed_answerable", "seed_unanswerable", "dialect_answerable",
                "dialect_unanswerable"} | {f"xquad_{lang}_{kind}" for lang in ("ar", "en", "zh") for kind in ("answerable", "unanswerable")}
    assert expected <= set(first["sets"])
    assert first["sets"]["arcd_answerable"]["items"] == 606 and first["sets"]["xquad_en_unanswerable"]["items"] == 1190


def test_folds_are_by_article(built):
    fold_of_article: dict[str, int] = {}
    for path in (built / "sets").glob("*.jsonl"):
        for item in _rows(path):
            assert 0 <= item["fold"] < archive.FOLDS and item["fold"] == archive.fold_of(item["article"])
            assert fold_of_article.setdefault(item["article"], item["fold"]) == item["fold"], item["article"]
            for key in ("question", "answers", "all", "id", "set", "language", "article", "answerable", "corpus"):
                assert key in item
    xquad = {a for a in fold_of_article if a.startswith("xquad:")}
    assert len(xquad) == 48 and len({fold_of_article[a] for a in xquad}) == archive.FOLDS
    assert archive.fold_of("xquad:Super Bowl 50") == archive.fold_of("xquad:Super Bowl 50")


def test_paragraphs_present_when_answerable_absent_when_not(built):
    corpora = {name: _corpus(built, name) for name in ("slice", "slice-seed", "slice-xquad", "slice-arcd")}
    for path in (built / "sets").glob("*.jsonl"):
        for item in _rows(path):
            corpus = corpora[item["corpus"].rsplit("/", 1)[-1]]
            if "doc" in item:  # an XQuAD or ARCD paragraph
                assert (item["doc"] in corpus) == item["answerable"], (path.name, item["id"])
                if item["answerable"]:
                    assert any(archive.normalize(a) in corpus[item["doc"]] for a in item["answers"])
            elif item["answerable"]:  # a seed question: its gold answers are in the seed articles
                seeds = [t for name, t in corpus.items() if name.endswith(".txt")]
                assert all(any(archive.normalize(a) in t for t in seeds) for a in item["answers"][:1])
    # the unanswerable corpus is the slice alone: no XQuAD or ARCD document in it
    assert not any(doc.startswith(("xquad-", "arcd-")) for doc in corpora["slice"])
    xquad_texts = {archive.normalize(d["text"]) for d in _rows(built / "corpora" / "slice-xquad" / "xquad-ar.jsonl")}
    assert not xquad_texts & set(corpora["slice"].values())


def test_gold_in_slice_flags_unanswerable_items(built):
    items = _rows(built / "sets" / "arcd_unanswerable.jsonl")
    sliced = archive.SliceText(archive.slice_records(N, archive.read_archive(archive.ANT, max_lines=LINES)))
    assert all(item["gold_in_slice"] == sliced.any_of(item["answers"]) for item in items)


def test_news_questions_are_absent_from_the_default_slice():
    records = archive.slice_records(archive.DEFAULT_N)
    assert archive.check_news(records) == []
    questions = _rows(archive.NEWS_UNANSWERABLE)
    assert len(questions) >= 40 and len({q["question"] for q in questions}) == len(questions)
    sliced = archive.SliceText(records)
    assert "نتنياهو" in sliced and "zzzz-not-in-the-archive" not in sliced


def test_read_set_splits_by_answerable(built):
    qa, held, corpus = archive.read_set(built / "sets" / "arcd_answerable.jsonl", limit=5)
    assert len(qa) == 5 and not held and corpus.name == "slice-arcd"
    qa, held, corpus = archive.read_set(built / "sets" / "seed_unanswerable.jsonl")
    assert not qa and held and corpus.name == "slice-seed"
