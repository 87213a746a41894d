"""Hostile input on the corpus and build side (docs/hostile-input.md): links out of the corpus, huge
and dirty fields, records Python cannot write, a watch that meets an unexpected error, and builds of
one index running at the same time. Real corpus folders in tmp_path, real index builds (the fake embedder)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_CORPUS, FakeEmbedder

from retrieval.errors import IndexBusy
from retrieval.index import MANIFEST, Index
from retrieval.index.layout import lock_file
from retrieval.ingest.build import BuildSteps, ChunkedCorpus, build_index, cut_document
from retrieval.ingest.documents import LoadReport, load_corpus
from retrieval.ingest.watch import WatchUpdate, watch_corpus
from retrieval.models import Document
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

SECRET = "ZUMURRUD-7731"
SECRET_ARTICLE = f"الرمز السري لخادم الأرشيف هو {SECRET} ولا يعرفه أحد من الموظفين.\n"
SECRET_QUESTION = "ما هو الرمز السري لخادم الأرشيف؟"
ARTICLE = "التقى وزير الخارجية نظيره في العاصمة يوم الثلاثاء وبحثا التعاون الاقتصادي بين البلدين.\n"


def settings_for(tmp_path: Path, **overrides) -> Settings:
    return Settings(_env_file=None, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", embedder="fake",
                    model="hash-64", **overrides)


def seed_corpus(tmp_path: Path, files: int = 2) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(SEED_CORPUS.glob("*.txt"))[:files]:
        shutil.copy(path, corpus / path.name)
    return corpus


def built_bytes(tmp_path: Path) -> bytes:
    """Every byte a build wrote: the index folder and whatever it left beside it."""
    out = b""
    for path in sorted(tmp_path.rglob("*")):
        rel = path.relative_to(tmp_path).parts
        if path.is_file() and not path.is_symlink() and rel[0] not in ("corpus", "outside"):
            out += path.read_bytes()
    return out


def pipeline_for(settings: Settings) -> Pipeline:
    return Pipeline(settings, Index.load(settings.index.index_dir, settings), FakeEmbedder(), None)


def jsonl(path: Path, *lines: str) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


# --- 1. corpus files resolve inside the corpus ---------------------------------------------------------


def test_links_to_files_outside_the_corpus_are_refused_and_nothing_leaks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET_ARTICLE, encoding="utf-8")
    (outside / "secret.jsonl").write_text(json.dumps({"title": "سر", "text": SECRET_ARTICLE}, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    (outside / "folder").mkdir()
    (outside / "folder" / "more.txt").write_text(SECRET_ARTICLE, encoding="utf-8")
    corpus = seed_corpus(tmp_path)
    (corpus / "leak.txt").symlink_to(outside / "secret.txt")  # absolute link
    (corpus / "sub").mkdir()
    (corpus / "sub" / "leak.jsonl").symlink_to(Path("..") / ".." / "outside" / "secret.jsonl")  # relative, climbing out
    (corpus / "chain.md").symlink_to("leak.txt")  # a link to a link that leaves
    (corpus / "linked_folder").symlink_to(outside / "folder", target_is_directory=True)
    first = sorted(corpus.glob("*.txt"))[0].name
    (corpus / "alias.txt").symlink_to(first)  # inside, to a file read already
    (corpus / ".drafts").mkdir()
    (corpus / ".drafts" / "kept.txt").write_text(ARTICLE, encoding="utf-8")
    (corpus / "sub" / "draft.txt").symlink_to(Path("..") / ".drafts" / "kept.txt")  # inside, not read otherwise

    report = LoadReport()
    docs = list(load_corpus(corpus, report))
    assert not any(SECRET in doc.text or SECRET in doc.title for doc in docs)
    reasons = {item.path: item.reason for item in report.skipped}
    for leak in ("leak.txt", "sub/leak.jsonl", "chain.md"):
        assert "outside the corpus" in reasons[leak], reasons
        assert str(outside) not in reasons[leak]  # the report does not say where the link points
    assert "alias.txt" in reasons and first in reasons["alias.txt"]  # the same file twice: read once
    assert [doc.source for doc in docs if doc.source == "sub/draft.txt"]  # inside the corpus: read

    settings = settings_for(tmp_path)
    result = build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert result.status == "built" and result.documents == 3
    assert SECRET.encode() not in built_bytes(tmp_path)
    answer = pipeline_for(settings).answer(SECRET_QUESTION)
    assert SECRET not in answer.model_dump_json()


def test_a_corpus_given_as_one_linked_file_is_read(tmp_path: Path) -> None:
    """The operator names the file: --corpus may itself be a link."""
    (tmp_path / "real.jsonl").write_text(json.dumps({"text": ARTICLE}, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "named.jsonl").symlink_to(tmp_path / "real.jsonl")
    report = LoadReport()
    assert [doc.text for doc in load_corpus(tmp_path / "named.jsonl", report)] == [ARTICLE]
    assert not report.skipped


# --- 2. fields cleaned and capped at load --------------------------------------------------------------

CONTROLS = "".join(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, *range(0x80, 0xA0)))


def dirty(text: str, surrogate: str = "\ud800") -> str:
    """``text`` with control characters (and a lone surrogate: JSON can hold one, a UTF-8 file cannot) spread through it."""
    return f"\x00{text[:10]}\x1b{surrogate}{text[10:]}\x85\x9b\x07"


def test_titles_urls_and_text_are_cleaned_and_capped_in_every_format(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    huge = ("عنوان طويل جدا " * 70_000)[:1_000_000]  # a 1 MB title
    jsonl(corpus / "feed.jsonl",
          json.dumps({"id": "huge", "title": huge, "text": ARTICLE, "url": "https://example.com/" + "a" * 3000},
                     ensure_ascii=False),
          json.dumps({"id": "dirty", "title": dirty("عنوان\tفيه\n\nأسطر"), "text": dirty(ARTICLE) + "سطر\tثان\r\nثالث",
                      "url": " \thttps://example.com/news/1\n", "author": dirty("كاتب")}),
          json.dumps({"id": "script", "title": "رابط", "text": ARTICLE, "url": "javascript:alert(1)"}),
          json.dumps({"id": "bidi\x00id\ud800", "text": ARTICLE}))
    (corpus / "header.txt").write_text(f"title: {huge}\nurl: ftp://example.com/x\n\n{ARTICLE}", encoding="utf-8")
    (corpus / "first_line.md").write_text(f"# \x1bعنوان المقال\x07 الأول\x9b\x85\n\n{ARTICLE}", encoding="utf-8")
    (corpus / "page.html").write_text(f"<html><head><title>{'ع ' * 5000}</title></head><body><article><h1>"
                                      f"{'عنوان ' * 3000}</h1><p>{ARTICLE * 3}</p></article></body></html>", encoding="utf-8")

    report = LoadReport()
    docs = {doc.id: doc for doc in load_corpus(corpus, report)}
    assert set(docs) >= {"huge", "dirty", "script", "header", "first_line"}
    for doc in docs.values():
        for value in (doc.id, doc.title, doc.source, doc.url or "", *doc.metadata.values()):
            assert not any(ch in CONTROLS or "\t" == ch or "\n" == ch for ch in value), value
            assert not any(unicodedata.category(ch) == "Cs" for ch in value), value
        assert 0 < len(doc.title) <= 300 and doc.title == doc.title.strip()
        assert not any(ch in CONTROLS or unicodedata.category(ch) == "Cs" for ch in doc.text)
    assert docs["huge"].url is None and docs["header"].url is None and docs["script"].url is None
    assert docs["dirty"].url == "https://example.com/news/1"
    assert docs["dirty"].title == "عنوان فيه أسطر"
    assert docs["dirty"].text.endswith("سطر\tثان\nثالث") and docs["dirty"].metadata["author"] == "كاتب"
    assert docs["first_line"].title == "عنوان المقال الأول"
    warned = {(item.path, item.line) for item in report.warnings if "link" in item.reason}
    assert {("feed.jsonl", 1), ("feed.jsonl", 3), ("header.txt", None)} <= warned

    settings = settings_for(tmp_path, max_title_chars=80)
    result = build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert result.status == "built"
    stored = [json.loads(line) for line in (settings.index.index_dir / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert max(len(record["title"]) for record in stored) <= 80
    assert (settings.index.index_dir / "documents.jsonl").stat().st_size < 20_000  # not 2 MB of titles
    answer = pipeline_for(settings).answer("عنوان طويل جدا وزير الخارجية")
    shown = [*answer.passages, *answer.sources, *answer.suggestions]
    assert shown and max(len(item.title) for item in shown) <= 80
    assert len(answer.model_dump_json()) < 40_000  # five passages, not megabytes of headline


# --- 3. one bad record is never fatal ------------------------------------------------------------------


def test_lone_surrogates_empty_and_binary_files_do_not_stop_the_build(tmp_path: Path) -> None:
    corpus = seed_corpus(tmp_path)
    (corpus / "bad.jsonl").write_text(
        '{"title": "\\ud800 عنوان", "url": "https://example.com/\\udfff", "text": "نص \\ud83d مقطوع عن الاجتماع"}\n'
        '{"text": "\\ud800\\u0000\\u001b"}\n'  # nothing left once cleaned
        '{"id": "\\udc80", "text": "خبر آخر عن الاجتماع"}\n', encoding="utf-8")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (corpus / "binary.jsonl").write_bytes(b"\x00\xff\xfe" * 1000 + b"\n")
    (corpus / "undecodable-\udcff.txt".encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")).write_text(
        ARTICLE, encoding="utf-8")

    settings = settings_for(tmp_path)
    result = build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert result.status == "built"
    reasons = {(item.path, item.line): item.reason for item in result.report.skipped}
    assert ("bad.jsonl", 2) in reasons  # nothing left of its text
    assert ("empty.txt", None) in reasons and ("binary.txt", None) in reasons and ("binary.jsonl", 1) in reasons
    index = Index.load(settings.index.index_dir, settings)
    titles = {doc.title for doc in index.documents}
    assert "عنوان" in titles
    kept = next(doc for doc in index.documents if doc.title == "عنوان")
    assert kept.url == "https://example.com/"
    assert any(doc.source.startswith("undecodable-") for doc in index.documents)
    answer = pipeline_for(settings).answer("ما الخبر عن الاجتماع؟")
    assert answer.passages and answer.model_dump_json().encode("utf-8")  # answers, and can be sent


def test_the_writer_survives_text_that_bypassed_the_loader(tmp_path: Path) -> None:
    """A distributed build's own loading step (BuildSteps) hands the writer a lone surrogate: written, not a crash."""
    doc = Document(id="d\ud800", title="عنوان \ud800", text="نص عن الاجتماع في العاصمة.", source="s\udc80.jsonl:1",
                   url="https://example.com/\ud800", metadata={"author": "\ud800"})

    def load_and_chunk(corpus: Path, settings: Settings, report: LoadReport) -> ChunkedCorpus:
        out = ChunkedCorpus()
        out.add(doc, cut_document(doc, settings.index.chunk_size, settings.index.chunk_overlap))
        return out

    corpus = seed_corpus(tmp_path, files=1)
    settings = settings_for(tmp_path)
    result = build_index(settings, corpus, embedder=FakeEmbedder(), progress=False, steps=BuildSteps(load_and_chunk))
    assert result.status == "built"
    index = Index.load(settings.index.index_dir, settings)
    assert index.documents[0].title.startswith("عنوان")


class _FailingEmbedder(FakeEmbedder):
    """An embedder that fails (as a model on a lost GPU would) while ``fail`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        if self.fail and not is_query:
            raise RuntimeError("CUDA error: an illegal memory access was encountered (model server http://admin:hunter2@gpu:8000)")
        return super()._embed(texts, is_query)


def test_the_watch_survives_any_failed_build_and_tries_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    corpus = seed_corpus(tmp_path)
    settings = settings_for(tmp_path)
    embedder = _FailingEmbedder()
    updates: list[WatchUpdate] = []
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=watch_corpus, args=(settings, updates.append), daemon=True,
                              kwargs=dict(debounce_ms=200, stop_event=stop, embedder=embedder, on_ready=ready.set))
    thread.start()
    try:
        assert ready.wait(60) and updates[0].error is None
        embedder.fail = True
        (corpus / "new.txt").write_text(ARTICLE, encoding="utf-8")
        failed = _wait(lambda: len(updates) >= 2 and updates[1], "the failed update", thread)
        assert failed.result is None and "RuntimeError" in failed.error and "illegal memory access" in failed.error
        assert "the previous index stays" in failed.describe()
        assert any("RuntimeError" in record.getMessage() for record in caplog.records if record.levelname == "ERROR")
        assert "hunter2" not in failed.error and "hunter2" not in caplog.text  # no password in the log
        embedder.fail = False
        (corpus / "new.txt").write_text(ARTICLE + "وأضاف الوزير أن المحادثات مستمرة.\n", encoding="utf-8")
        fixed = _wait(lambda: len(updates) >= 3 and updates[2], "the next update", thread)
        assert fixed.error is None and fixed.result.status == "built" and fixed.result.documents == 3
    finally:
        stop.set()
        thread.join(30)


def _wait(condition, what: str, thread: threading.Thread, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert thread.is_alive(), f"the watch died waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


# --- 4. one build of an index at a time ----------------------------------------------------------------


def test_concurrent_builds_of_one_index_all_succeed_and_the_index_always_has_a_manifest(tmp_path: Path) -> None:
    seed_corpus(tmp_path, files=3)
    settings = settings_for(tmp_path)
    index_dir = settings.index.index_dir
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    errors: list[str] = []
    missing: list[str] = []
    built: list[str] = []
    done = threading.Event()

    def builder() -> None:
        for _ in range(15):
            try:
                built.append(build_index(settings, embedder=FakeEmbedder(), progress=False, rebuild=True).status)
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                errors.append(f"{type(exc).__name__}: {exc}")

    def monitor() -> None:
        """An index folder seen without its manifest (a folder renamed away meanwhile is not one)."""
        while not done.is_set():
            try:
                fd = os.open(index_dir, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue  # between the two renames of a swap
            try:
                try:
                    os.stat(MANIFEST, dir_fd=fd)
                except FileNotFoundError:
                    try:
                        still_there = os.stat(index_dir).st_ino == os.fstat(fd).st_ino
                    except FileNotFoundError:
                        still_there = False
                    if still_there:
                        missing.append(str(sorted(os.listdir(fd))))
            finally:
                os.close(fd)

    watcher = threading.Thread(target=monitor)
    watcher.start()
    threads = [threading.Thread(target=builder) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    done.set()
    watcher.join(10)
    assert errors == [] and built == ["built"] * 45
    assert missing == []
    assert Index.load(index_dir, settings).manifest.counts.documents == 3
    assert lock_file(index_dir).parent == index_dir.parent


class _BlockingEmbedder(FakeEmbedder):
    """Holds its build inside the embedding step until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not is_query:
            self.entered.set()
            assert self.release.wait(60)
        return super()._embed(texts, is_query)


def test_a_second_build_waits_then_refuses_politely_and_readers_need_no_lock(tmp_path: Path) -> None:
    corpus = seed_corpus(tmp_path)
    settings = settings_for(tmp_path)
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    (corpus / "new.txt").write_text(ARTICLE, encoding="utf-8")
    slow = _BlockingEmbedder()
    outcome: list[object] = []
    first = threading.Thread(target=lambda: outcome.append(build_index(settings, embedder=slow, progress=False)))
    first.start()
    try:
        assert slow.entered.wait(30)
        impatient = settings.with_(build_lock_wait_seconds=0.3)
        started = time.monotonic()
        with pytest.raises(IndexBusy) as refused:
            build_index(impatient, embedder=FakeEmbedder(), progress=False)
        assert 0.3 <= time.monotonic() - started < 10
        message = str(refused.value)
        assert str(lock_file(settings.index.index_dir)) in message and "BUILD_LOCK_WAIT_SECONDS" in message
        assert "Another build" in message
        # the bot reads the index while the build holds the lock
        assert Index.load(settings.index.index_dir, settings).manifest.counts.documents == 2
    finally:
        slow.release.set()
        first.join(60)
    assert [getattr(result, "status", result) for result in outcome] == ["built"]
    assert build_index(settings, embedder=FakeEmbedder(), progress=False).status == "unchanged"  # the lock is free again


BUILDER = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import FakeEmbedder
from retrieval.ingest.build import build_index
from retrieval.settings import Settings

settings = Settings(_env_file=None, corpus_dir=Path({corpus!r}), index_dir=Path({index!r}), embedder="fake", model="hash-64")
for _ in range({builds}):
    assert build_index(settings, embedder=FakeEmbedder(), progress=False, rebuild=True).status == "built"
"""


@pytest.mark.slow
def test_concurrent_build_processes_of_one_index_all_succeed(tmp_path: Path) -> None:
    """The measured case: separate builder processes swapping one index again and again."""
    import subprocess
    import sys

    from conftest import clean_env

    seed_corpus(tmp_path, files=3)
    settings = settings_for(tmp_path)
    script = BUILDER.format(tests=str(Path(__file__).parent), corpus=str(settings.index.corpus_dir), index=str(settings.index.index_dir),
                            builds=40)
    processes = [subprocess.Popen([sys.executable, "-c", script], env=clean_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], "\n".join(outputs)
    assert Index.load(settings.index.index_dir, settings).manifest.counts.documents == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [".index.lock", "corpus", "index"]
