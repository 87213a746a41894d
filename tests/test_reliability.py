"""Faults: a corpus of bad files, builds killed with SIGKILL, and hostile questions."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SEED_CORPUS, clean_env, seed_settings

from retrieval.errors import CorpusEmpty
from retrieval.index import Index
from retrieval.ingest.build import build_index
from retrieval.ingest.documents import MAX_FILE_BYTES, load_corpus
from retrieval.models import Answer
from retrieval.pipeline import Pipeline
from retrieval.search.retriever import MODES
from retrieval.settings import Settings

ANT_SAMPLE = Path(__file__).resolve().parent / "data" / "ant_sample.jsonl.gz"
MEETING = "000_bfedeb9d58756a4b"
QUESTION = "من التقى رشاد؟"


def index_build(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "index_build.py"), *args]


def check_answers(index_dir: Path, doc_id: str = MEETING, question: str = QUESTION) -> Answer:
    """The index at ``index_dir`` loads (every file checked) and answers from ``doc_id``."""
    answer = Pipeline.load(seed_settings(index_dir)).answer(question)
    assert not answer.abstained
    assert doc_id in {source.doc_id for source in answer.sources}
    return answer


# --- a corpus of faults --------------------------------------------------------------------


def write_faults(corpus: Path) -> dict[str, str]:
    """Bad files in ``corpus/faults``; returns the skip line prefix -> a word of its reason."""
    faults = corpus / "faults"
    faults.mkdir()
    (faults / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000))
    (faults / "utf16.txt").write_bytes("بيان المهرجان\nافتتح مهرجان قرطاج السينمائي دورته في تونس العاصمة.\n".encode("utf-16"))
    (faults / "zero.txt").write_bytes(b"")
    with open(faults / "dump.txt", "wb") as handle:  # 50 MB on one line
        block = ("سطر طويل جدا بلا نهاية " * 4000).encode("utf-8")
        for _ in range(50_000_000 // len(block) + 1):
            handle.write(block)
    with open(faults / "dump.jsonl", "wb") as handle:  # a 50 MB JSON line, then a good one
        handle.write(b'{"text": "' + b"a" * 50_000_000 + b'"}\n')
        handle.write(json.dumps({"id": "after-dump", "text": "خبر سليم بعد السطر الضخم عن ميناء طنجة."},
                                ensure_ascii=False).encode("utf-8") + b"\n")
    (faults / "lines.jsonl").write_text(
        json.dumps({"id": "good-line", "title": "سباق الهجن", "text": "فاز الهجين الإماراتي بسباق الهجن في دبي."},
                   ensure_ascii=False) + "\n{not json\n[]\n" + json.dumps({"id": "no-text"}) + "\n",
        encoding="utf-8",
    )
    (faults / "loop1.md").symlink_to("loop2.md")
    (faults / "loop2.md").symlink_to("loop1.md")
    (faults / "locked.txt").write_text("ملف مقفل\nلا يقرأ هذا الملف.\n", encoding="utf-8")
    (faults / "locked.txt").chmod(0)
    assert (faults / "dump.txt").stat().st_size > MAX_FILE_BYTES
    expected = {
        "faults/binary.txt:": "binary",
        "faults/zero.txt:": "empty",
        "faults/dump.txt:": "too large",
        "faults/dump.jsonl:1:": "too long",
        "faults/lines.jsonl:2:": "malformed JSON",
        "faults/lines.jsonl:3:": "not a JSON object",
        "faults/lines.jsonl:4:": "text",
        "faults/loop1.md:": "symbolic links",
        "faults/loop2.md:": "symbolic links",
    }
    if not os.access(faults / "locked.txt", os.R_OK):  # root reads it anyway
        expected["faults/locked.txt:"] = "Permission denied"
    return expected


@pytest.mark.slow
def test_build_over_a_corpus_of_faults(tmp_path: Path, seed_index: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    expected = write_faults(corpus)
    shutil.copytree(seed_index, tmp_path / "index")  # the previous index: only the new texts are embedded
    try:
        result = subprocess.run(index_build("--corpus", "corpus", "--index-dir", "index", "--json"),
                                cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    finally:
        (corpus / "faults" / "locked.txt").chmod(0o644)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "built"
    skipped = summary["skipped"]
    for prefix, word in expected.items():
        matches = [line for line in skipped if line.startswith(prefix)]
        assert len(matches) == 1, (prefix, skipped)
        assert word.lower() in matches[0].lower(), matches[0]
    assert len(skipped) == len(expected)

    index = Index.load(tmp_path / "index", seed_settings(tmp_path / "index"))
    ids = {doc.id for doc in index.documents}
    assert {"faults/utf16", "good-line", "after-dump", MEETING} <= ids
    assert not ids & {"faults/binary", "faults/zero", "faults/dump", "no-text"}
    pipeline = Pipeline.load(seed_settings(tmp_path / "index"))
    assert MEETING in {s.doc_id for s in pipeline.answer(QUESTION).sources}
    festival = pipeline.answer("أين افتتح مهرجان قرطاج السينمائي؟")
    assert "faults/utf16" in {s.doc_id for s in festival.sources}
    assert "after-dump" in {p.doc_id for p in pipeline.retriever.search("ميناء طنجة", k=3, mode="bm25")}


# --- builds killed with SIGKILL ------------------------------------------------------------


def add_articles(corpus: Path, n: int) -> None:
    with gzip.open(ANT_SAMPLE, "rt", encoding="utf-8") as handle:
        lines = handle.readlines()[:n]
    (corpus / "ant.jsonl").write_text("".join(lines), encoding="utf-8")


@pytest.mark.slow
def test_kill_9_during_builds(tmp_path: Path, seed_index: Path) -> None:
    rng = random.Random(20240607)
    # the previous index: the seed index; the new corpus: the seed corpus and one ANT article
    work, scratch = tmp_path / "work", tmp_path / "scratch"
    for folder in (work, scratch):
        shutil.copytree(SEED_CORPUS, folder / "corpus")
        add_articles(folder / "corpus", 1)
        shutil.copytree(seed_index, folder / "index")
    old_counts = Index.load(work / "index").manifest["counts"]
    new_id = json.loads(gzip.open(ANT_SAMPLE, "rt", encoding="utf-8").readline())["id"]
    command = index_build("--corpus", "corpus", "--index-dir", "index", "--no-progress", "-q")

    # how long the same build takes when left alone (on a copy)
    started = time.monotonic()
    full = subprocess.run(command, cwd=scratch, env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    duration = time.monotonic() - started
    assert full.returncode == 0, full.stderr
    new_counts = Index.load(scratch / "index").manifest["counts"]
    assert new_counts["documents"] == old_counts["documents"] + 1

    for _ in range(3):
        delay = rng.uniform(0.05, 0.95) * duration
        process = subprocess.Popen(command, cwd=work, env=clean_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        # whatever the moment of the kill: a whole index, old or new, loads, is checked and answers
        counts = Index.load(work / "index", seed_settings(work / "index")).manifest["counts"]
        assert counts in (old_counts, new_counts)
        check_answers(work / "index")

    final = subprocess.run(command, cwd=work, env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert final.returncode == 0, final.stderr
    assert Index.load(work / "index").manifest["counts"] == new_counts
    answer = check_answers(work / "index")
    assert answer.sources
    assert new_id in {doc.id for doc in Index.load(work / "index").documents}
    # no temporary folder, old index or resume cache is left beside it (the build lock's file stays, harmless)
    assert sorted(p.name for p in work.iterdir()) == [".index.lock", "corpus", "index"]


def test_previous_index_survives_a_failed_build(tmp_path: Path, seed_index: Path) -> None:
    # the build stops with an error before writing anything: the old index stays as it was
    shutil.copytree(seed_index, tmp_path / "index")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "only.txt").write_bytes(b"\x00\x01binary")
    settings = Settings(_env_file=None, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    with pytest.raises(CorpusEmpty):
        build_index(settings, progress=False)
    check_answers(tmp_path / "index")


# --- hostile questions ---------------------------------------------------------------------

QUESTIONS = [
    "",
    "   \n\t ",
    "؟",
    "a",
    "ر",
    "رشاد " * 2000,  # 10,000 characters
    "x" * 10_000,
    "?!.,;:؟،؛…«»()[]{}",
    "😀🔥👍🏽🇪🇬",
    "'; DROP TABLE articles; --",
    "1 OR 1=1",
    "<script>alert('x')</script> من التقى رشاد؟",
    "<b>رشاد</b> &amp; &lt;i&gt;",
    "**رشاد** [رابط](http://example.com) `code` # عنوان",
    "Кто встретился с Рашадом?",
    "谁见了拉沙德？",
    "\u200f\u200e\u202eرشاد\u202c",
    "\x00\x07\x1b[31mرشاد",
    "مُحَمَّدٌ؟؟؟؟",
    "{{7*7}} ${jndi:ldap://x}",
]


def check_answer(pipeline: Pipeline, answer: Answer) -> None:
    """A well-formed answer: refused or abstained with a message, or excerpts that are exact
    spans of the corpus files with their sources; renderable as JSON."""
    assert isinstance(answer, Answer)
    assert isinstance(answer.text, str)
    if answer.abstained:
        assert answer.message and not answer.excerpts
    else:
        assert answer.excerpts and answer.sources
    for excerpt in answer.excerpts:
        doc = next(d for d in pipeline.index.documents if d.id == excerpt.doc_id)
        stored = next(d.text for d in load_corpus(SEED_CORPUS) if d.source == doc.source)  # furniture lines out
        assert stored[excerpt.start : excerpt.end] == excerpt.text
    json.dumps(answer.model_dump(mode="json"), ensure_ascii=False)  # renderable


@pytest.mark.parametrize("question", QUESTIONS, ids=range(len(QUESTIONS)))
def test_hostile_questions_get_an_answer(seed_pipeline, question: str) -> None:
    check_answer(seed_pipeline, seed_pipeline.answer(question))


# an unknown mode raises (UnknownBackend naming the choices): tests/test_question.py
@pytest.mark.parametrize("mode", MODES)
def test_hostile_questions_in_every_mode(seed_pipeline, mode: str) -> None:
    for question in [q for q in QUESTIONS if len(q) < 100][::2]:  # (the long ones cost an embedding each)
        answer = seed_pipeline.answer(question, mode=mode, k=3)
        check_answer(seed_pipeline, answer)
        assert (answer.mode, answer.k) == (mode, 3)  # the mode asked for, not a silent fallback
        assert len(answer.passages) <= 3
