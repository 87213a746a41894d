"""index_build.py --watch (retrieval/ingest/watch.py): the corpus is watched and re-indexed as it changes;
bad files are skipped and reported, and the watch goes on."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, SEED_CORPUS, FakeEmbedder, clean_env

from retrieval.index.manifest import read_manifest
from retrieval.ingest.watch import WatchUpdate, watch_corpus
from retrieval.live import manifest_signature
from retrieval.settings import Settings

BAD_BYTES = "خبر".encode("cp1256") + b"\xff\xfe not utf-8"


def ant_records() -> list[dict]:
    with gzip.open(ROOT / "tests" / "data" / "ant_sample.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def write_record(path: Path, record: dict) -> None:
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")


def wait_until(condition, timeout: float, what: str, alive=None):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return value


def test_watch_corpus_rebuilds_each_change_and_reports_bad_files(tmp_path):
    """In a thread with the fake embedder: the library's watch loop, update by update."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "index", embedder="fake", model="hash-64")
    updates: list[WatchUpdate] = []
    ready, stop = threading.Event(), threading.Event()
    records = ant_records()

    def on_ready() -> None:
        # written the instant the first build is done, from the watch's own thread: must not be missed
        write_record(corpus / "one.jsonl", records[0])
        ready.set()

    thread = threading.Thread(target=watch_corpus, args=(settings, updates.append), daemon=True,
                              kwargs=dict(debounce_ms=200, stop_event=stop, embedder=FakeEmbedder(), on_ready=on_ready))
    thread.start()
    try:
        assert ready.wait(60)
        start = updates[0]
        assert start.initial and start.result.status == "built" and start.result.documents == 5
        assert start.describe().startswith("start: 5 documents")
        added = wait_until(lambda: len(updates) >= 2 and updates[1], 30, "the update of one.jsonl")
        assert added.added == ["one.jsonl"] and added.result.documents == 6 and added.result.status == "built"
        line = added.describe()
        assert line.startswith("+1 added (one.jsonl): 6 documents") and "embedded" in line and line.endswith(" s")
        (corpus / "bad.txt").write_bytes(BAD_BYTES)
        bad = wait_until(lambda: len(updates) >= 3 and updates[2], 30, "the update of bad.txt")
        assert bad.added == ["bad.txt"] and bad.result.documents == 6 and bad.error is None
        assert "skipped 1: bad.txt: not UTF-8" in bad.describe()
        (corpus / "one.jsonl").unlink()
        removed = wait_until(lambda: len(updates) >= 4 and updates[3], 30, "the deletion")
        assert removed.deleted == ["one.jsonl"] and removed.result.documents == 5
        assert removed.describe().startswith("-1 deleted (one.jsonl): 5 documents")
        (corpus / ".one.jsonl.swp").write_text("an editor's swap file", encoding="utf-8")  # not a corpus file
        time.sleep(0.6)  # three debounces: a change that must not cause an update
        assert len(updates) == 4
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


@pytest.mark.slow
def test_index_build_watch_as_a_process(seed_index, tmp_path):
    """The real command, the default embedder: add an article, then a bad file, then another article."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index, index_dir)  # already up to date: the watch starts with "index unchanged"
    log = tmp_path / "watch.log"
    records = ant_records()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "index_build.py"), "--watch", "--debounce", "300",
                                    "--corpus", str(corpus), "--index-dir", str(index_dir)],
                                   cwd=tmp_path, env=clean_env(), stdout=out, stderr=subprocess.STDOUT)
    text = lambda: log.read_text(encoding="utf-8", errors="replace")  # noqa: E731

    def alive() -> None:
        if process.poll() is not None:
            raise AssertionError(f"the watcher exited with {process.returncode}:\n{text()}")

    try:
        wait_until(lambda: "start: 5 documents" in text(), 120, "the first update", alive)
        assert "index unchanged" in text()
        before = manifest_signature(index_dir)
        write_record(corpus / "new.jsonl", records[1])
        wait_until(lambda: manifest_signature(index_dir) != before, 120, "a new index", alive)
        wait_until(lambda: "+1 added (new.jsonl): 6 documents" in text(), 30, "the update line", alive)
        assert read_manifest(index_dir).counts.documents == 6
        (corpus / "bad.txt").write_bytes(BAD_BYTES)
        wait_until(lambda: "skipped 1: bad.txt: not UTF-8" in text(), 60, "the bad file reported", alive)
        before = manifest_signature(index_dir)
        (corpus / "more.txt").write_text(f"{records[2]['title']}\n\n{records[2]['text']}", encoding="utf-8")
        wait_until(lambda: manifest_signature(index_dir) != before, 120, "the index after the bad file", alive)
        wait_until(lambda: "+1 added (more.txt): 7 documents" in text(), 30, "the next update line", alive)
        assert process.poll() is None and "Traceback" not in text()
        lines = [line for line in text().splitlines() if " documents, " in line]
        assert len(lines) == 4, text()  # one line per update: start, new.jsonl, bad.txt, more.txt
        assert all(re.match(r"\d\d:\d\d:\d\d [+~-]?\d? ?\w", line) for line in lines), lines  # time-stamped
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    assert os.path.isdir(index_dir)
