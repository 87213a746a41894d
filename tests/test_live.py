"""Switching to a newly built index without a restart (retrieval/live.py): the library holder on
real indexes (the fake embedder where only the mechanics matter), then the real bot over the
loopback Bot API server and the real REPL, with the default embedder, where answers matter."""

from __future__ import annotations

import gc
import gzip
import json
import logging
import shutil
import threading
import time
import weakref
from pathlib import Path

import pytest
from botapi_server import TOKEN, BotAPIServer, BotRunner
from conftest import ROOT, SEED_CORPUS, FakeEmbedder

from bot.texts import REPL_PROMPT as PROMPT
from retrieval.answer.catalog import word
from retrieval.index import Index
from retrieval.index.layout import CHUNKS, MANIFEST
from retrieval.ingest.build import build_index
from retrieval.live import LivePipeline, manifest_signature
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

# an article the seed corpus knows nothing about (BBC Arabic, 2018-02-11, from the ANT sample)
NEW_ID = "BB-culture-10-20180211"
NEW_QUESTION = "أين عثر على المؤلف الموسيقي يوهان يوهانسون متوفيا؟"
SEED_QUESTION = "من التقى رشاد؟"


def new_article() -> dict:
    with gzip.open(ROOT / "tests" / "data" / "ant_sample.jsonl.gz", "rt", encoding="utf-8") as handle:
        return next(record for record in map(json.loads, handle) if record["id"] == NEW_ID)


def seed_copy(folder: Path) -> Path:
    """corpus/ copied, so that a test can add articles to it."""
    corpus = folder / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    return corpus


def add_new_article(corpus: Path) -> dict:
    record = new_article()
    (corpus / "new.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    return record


# ---------------------------------------------------------------- the holder (fake embedder)


def fake_settings(corpus: Path, index_dir: Path) -> Settings:
    # MODEL names the fake's vectors, so an index of another dimension is refused as a mismatch
    return Settings(_env_file=None, corpus_dir=corpus, index_dir=index_dir, embedder="fake", model="hash-64")


@pytest.fixture()
def fake_live(tmp_path):
    corpus = seed_copy(tmp_path)
    settings = fake_settings(corpus, tmp_path / "index")
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    pipeline = Pipeline(settings, Index.load(settings.index.index_dir, settings), FakeEmbedder())
    return LivePipeline(pipeline, settings), settings


def test_a_rebuild_is_switched_in_and_the_old_index_released(fake_live, caplog):
    live, settings = fake_live
    first = live.current()
    assert live.refresh() is False and live.current() is first  # nothing changed: one stat, no load
    record = add_new_article(settings.index.corpus_dir)
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    with caplog.at_level(logging.INFO, logger="retrieval.live"):
        assert live.refresh() is True
    new = live.current()
    assert new is not first and live.generation == 1
    assert [d.id for d in new.documents()].count(NEW_ID) == 1 and len(new.documents()) == 6
    assert new.embedder is first.embedder  # the model is not loaded twice
    assert new.answer(record["title"], mode="bm25").passages[0].doc_id == NEW_ID  # found by its title
    assert new.index.lexicon.built == (True, True)  # the English names' and spelling tables, built before the switch
    [line] = [r.getMessage() for r in caplog.records if "switched" in r.getMessage()]
    assert "6 documents" in line and "(was 5," in line and "built at" in line and "loaded in" in line
    assert live.refresh() is False  # the same build is not loaded again
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None  # nothing but the questions in flight keeps an old index alive


def test_loading_builds_the_names_table_in_the_background(seed_index):
    from conftest import seed_settings

    live = LivePipeline.load(seed_settings(seed_index))
    [worker] = [t for t in threading.enumerate() if t.name == "names"] or [None]
    if worker is not None:
        worker.join(timeout=30)
    assert live.current().index.lexicon.built == (True, True)  # both tables
    assert live.current().answer("Who did Hassan Rashad meet in Jerusalem?").passages[0].doc_id == "000_bfedeb9d58756a4b"


def test_a_question_in_flight_finishes_on_the_index_it_started_on(fake_live):
    live, settings = fake_live
    held = live.current()  # what a front end holds while it answers
    before = held.answer(SEED_QUESTION, mode="bm25")
    add_new_article(settings.index.corpus_dir)
    build_index(settings, embedder=FakeEmbedder(), progress=False)  # swaps the folder: the old files are deleted
    assert live.refresh() is True
    # the old pipeline still answers, identically, from its memory maps of the deleted files
    again = held.answer(SEED_QUESTION, mode="bm25")
    assert again.text == before.text and len(held.documents()) == 5
    assert len(live.current().documents()) == 6


def test_a_damaged_new_index_is_refused_and_the_old_one_keeps_serving(fake_live, caplog):
    live, settings = fake_live
    first = live.current()
    expected = first.answer(SEED_QUESTION, mode="bm25").text
    manifest = settings.index.index_dir / MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8")[:200], encoding="utf-8")  # a truncated write
    with caplog.at_level(logging.INFO, logger="retrieval.live"):
        assert live.refresh() is False
        assert live.refresh() is False  # refused once, not at every check
    [line] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert line.levelno == logging.ERROR
    assert "still serving the previous one (5 documents)" in line.getMessage()
    assert "unreadable" in line.getMessage() and "index_build.py --rebuild" in line.getMessage()
    assert live.current() is first and "unreadable" in live.refused
    assert live.current().answer(SEED_QUESTION, mode="bm25").text == expected
    # a good build afterwards is taken
    add_new_article(settings.index.corpus_dir)
    build_index(settings, embedder=FakeEmbedder(), progress=False, rebuild=True)
    assert live.refresh() is True and live.refused is None and len(live.current().documents()) == 6


def test_a_damaged_data_file_or_another_embedder_is_refused(fake_live, caplog):
    live, settings = fake_live
    first = live.current()
    add_new_article(settings.index.corpus_dir)
    build_index(settings, embedder=FakeEmbedder(dim=32), progress=False)  # vectors the questions cannot use
    with caplog.at_level(logging.ERROR, logger="retrieval.live"):
        assert live.refresh() is False
    assert "built with embedder fake:hash-32" in live.refused and live.current() is first
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    chunks = settings.index.index_dir / CHUNKS
    chunks.write_bytes(chunks.read_bytes()[:-8] + b"\0" * 8)  # one flipped file, then its manifest is touched
    (settings.index.index_dir / MANIFEST).touch()
    assert manifest_signature(settings.index.index_dir) is not None
    assert live.refresh() is False
    assert "damaged (checksum differs" in live.refused and live.current() is first
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 2


def test_polling_switches_without_a_question(fake_live):
    live, settings = fake_live
    live.start_polling(0.05)
    try:
        add_new_article(settings.index.corpus_dir)
        build_index(settings, embedder=FakeEmbedder(), progress=False)
        deadline = time.monotonic() + 20
        while live.generation == 0:
            assert time.monotonic() < deadline, "the poller did not switch within 20 s"
            time.sleep(0.02)
    finally:
        live.stop_polling()
    assert len(live.current().documents()) == 6


def test_concurrent_refreshes_load_once(fake_live):
    live, settings = fake_live
    add_new_article(settings.index.corpus_dir)
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(live.refresh())) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * 5 + [True] and live.generation == 1


# ---------------------------------------------------------------- the real bot (default embedder)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture()
def live_index(seed_index, tmp_path):
    """A copy of the real seed index and of its corpus, to rebuild in place."""
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index, index_dir)
    return seed_copy(tmp_path), index_dir


@pytest.mark.slow
def test_the_bot_switches_while_twenty_chats_ask_and_cites_the_new_article(live_index, tmp_path):
    corpus, index_dir = live_index
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=index_dir, telegram_bot_token=TOKEN,
                        state_file=tmp_path / "state.sqlite3", rate_limit_per_minute=1000, index_poll_seconds=0.05)
    record = new_article()
    with BotAPIServer() as server:
        settings = settings.with_(telegram_base_url=server.base_url)
        live = LivePipeline.load(settings)
        with BotRunner(settings, live) as bot:
            server.send_text(1, NEW_QUESTION)
            [before] = server.wait_for_messages(1, 1, timeout=60)
            assert record["title"] not in before.text  # not known yet
            chats = range(100, 120)
            for chat in chats:
                server.send_text(chat, SEED_QUESTION)
            add_new_article(corpus)
            build_index(settings, progress=False)  # the real embedder; only the new texts are embedded
            for chat in chats:
                server.send_text(chat, SEED_QUESTION)  # a second wave, around the switch
            wait_until(lambda: live.generation == 1, 60, "the switch")
            for chat in chats:
                server.wait_for_messages(chat, 2, timeout=120)
            bot.wait_idle(server, timeout=60)
            for chat in chats:
                replies = server.sent_to(chat)
                assert len(replies) == 2, (chat, [r.text[:60] for r in replies])  # none lost, none twice
                assert all("نتنياهو" in reply.text for reply in replies)
            server.send_text(1, NEW_QUESTION)
            [after] = server.wait_for_messages(1, 2, timeout=60)[1:]
            assert "برلين" in after.text and word("answer.sources") in after.text and record["title"] in after.text
            assert bot.logs.count("switched to the new index") == 1
            assert bot.logs.count("6 documents, ") == 1
            # a damaged build is refused while the bot keeps answering from the index it has
            manifest = index_dir / MANIFEST
            manifest.write_text("{", encoding="utf-8")
            wait_until(lambda: live.refused is not None, 30, "the refusal")
            server.send_text(2, NEW_QUESTION)
            [still] = server.wait_for_messages(2, 1, timeout=60)
            assert "برلين" in still.text
            assert bot.logs.count("was refused; still serving the previous one (6 documents)") == 1
            assert not [r for r in server.errors() if r.status == 400]


@pytest.mark.slow
def test_the_repl_switches_between_questions(live_index, tmp_path):
    from test_repl import Terminal  # the pseudo-terminal driver (not a test: nothing more is collected)

    corpus, index_dir = live_index
    terminal = Terminal(["-m", "bot.repl", "--index-dir", str(index_dir), "--no-color"], cwd=tmp_path)
    try:
        assert "5 articles indexed" in terminal.expect(PROMPT)
        before = terminal.ask(NEW_QUESTION)
        assert new_article()["title"] not in before
        add_new_article(corpus)
        build_index(Settings(_env_file=None, corpus_dir=corpus, index_dir=index_dir), progress=False)
        after = terminal.ask(NEW_QUESTION)
        assert "(index updated: 6 articles)" in after
        assert "برلين" in after and new_article()["title"] in after
        terminal.send(":quit\r")
        assert terminal.wait() == 0 and "Traceback" not in terminal.text
    finally:
        terminal.close()
