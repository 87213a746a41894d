"""Votes on answers and /latest, through the real bot Application and the real Telegram library
over the loopback Bot API server (tests/botapi_server.py), on the real seed index and on a real
index of nine dated ANT articles (tests/data/ant_dated.jsonl); the export through `python -m bot`."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from botapi_server import BotAPIServer, BotRunner
from conftest import ROOT, clean_env, seed_settings
from test_telegram import QUESTION, UNANSWERABLE, ask, bot_settings, more_data, no_bad_requests

from bot.texts import LATEST_HEADING, NO_DATED_ARTICLES, VOTE_FORGOTTEN
from retrieval.answer.catalog import word
from retrieval.evaluation import read_qa
from retrieval.text.calendar_ar import format_date_ar, parse_date

DATED_CORPUS = ROOT / "tests" / "data" / "ant_dated.jsonl"


@pytest.fixture(scope="module")
def server():
    with BotAPIServer() as api:
        yield api


@pytest.fixture(scope="module")
def state_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("feedback") / "state.sqlite3"


@pytest.fixture(scope="module")
def bot(server, seed_pipeline, seed_index, state_file):
    with BotRunner(bot_settings(server, state_file, seed_index), seed_pipeline) as runner:
        yield runner


def vote_data(message, label: str) -> str:
    return next(b["callback_data"] for b in message.buttons() if b["text"] == label)


def press(server: BotAPIServer, chat: int, message, data: str) -> str:
    """Press a button and return the text of the bot's answer to the callback query."""
    query = server.press_button(chat, message.message_id, data)
    server.wait_for(lambda: server.callback_queries[query]["answered"] is not None)
    return server.callback_queries[query]["answered"].get("text", "")


def stored_votes(state_file: Path) -> list[dict]:
    """The votes as the state file holds them, each with its answer's record."""
    with sqlite3.connect(state_file) as db:
        rows = db.execute("SELECT v.chat_id, v.user_id, v.vote, v.time, a.data FROM votes v"
                          " JOIN answers a ON a.key = v.key ORDER BY v.rowid").fetchall()
    return [dict(chat=c, user=u, vote=v, time=t, answer=json.loads(d)) for c, u, v, t, d in rows]


def export(tmp_path: Path, state_file: Path, target: str) -> subprocess.CompletedProcess:
    env = clean_env()
    env["STATE_FILE"] = str(state_file)
    return subprocess.run([sys.executable, "-m", "bot", "--export-feedback", target], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------- votes


def test_a_vote_is_stored_with_the_answer_and_a_second_vote_replaces_it(server, bot, seed_pipeline, state_file):
    chat = 601
    [reply] = ask(server, chat, QUESTION)
    expected = seed_pipeline.answer(QUESTION)
    cited = {n for excerpt in expected.excerpts for n in excerpt.citations}
    useful = vote_data(reply, word("button.useful"))
    assert len(useful.encode()) <= 64 and QUESTION not in useful
    assert press(server, chat, reply, useful) == word("vote.thanks")
    [stored] = stored_votes(state_file)
    assert stored["chat"] == chat and stored["vote"] == "useful"
    record = stored["answer"]
    assert record["question"] == QUESTION and record["resolved_question"] == expected.resolved_question
    assert [(s["doc_id"], s["title"]) for s in record["cited"]] == [
        (s.doc_id, s.title) for s in expected.sources if s.number in cited]
    assert [e["text"] for e in record["shown"]] == [e.text for e in expected.excerpts]
    for source in record["cited"]:
        assert source["title"] in reply.text  # what was stored is what the user saw
    # the other button: the vote is replaced, and the user is told so
    assert press(server, chat, reply, vote_data(reply, word("button.not_useful"))) == word("vote.changed.not_useful")
    assert [v["vote"] for v in stored_votes(state_file)] == ["not_useful"]
    assert press(server, chat, reply, vote_data(reply, word("button.not_useful"))) == word("vote.same")
    assert len(stored_votes(state_file)) == 1
    # "more" shows the next page under the same vote buttons; the record grows by what it showed
    server.press_button(chat, reply.message_id, more_data(reply))
    [page] = server.wait_for_messages(chat, 2)[1:]
    assert vote_data(page, word("button.useful")) == useful
    assert press(server, chat, page, useful) == word("vote.changed.useful")
    [stored] = stored_votes(state_file)
    shown = [e["text"] for e in stored["answer"]["shown"]]
    assert shown[: len(expected.excerpts)] == [e.text for e in expected.excerpts]
    assert shown[len(expected.excerpts):] == [e.text for e in expected.more[: len(shown) - len(expected.excerpts)]]
    assert len(shown) > len(expected.excerpts)
    bot.wait_idle(server)
    assert QUESTION not in bot.logs.text(logging.INFO) and bot.logs.count(f"vote chat={chat} ") == 4
    no_bad_requests(server)


def test_an_abstention_is_voted_on_and_an_unknown_answer_is_answered_politely(server, bot, state_file):
    chat = 602
    [reply] = ask(server, chat, UNANSWERABLE)
    assert press(server, chat, reply, vote_data(reply, word("button.not_useful"))) == word("vote.thanks")
    mine = [v for v in stored_votes(state_file) if v["chat"] == chat]
    assert [(v["vote"], v["answer"]["abstained"], v["answer"]["question"]) for v in mine] == [
        ("not_useful", True, UNANSWERABLE)]
    before = len(stored_votes(state_file))
    assert press(server, chat, reply, "vote:u:no-such-answer") == VOTE_FORGOTTEN
    assert press(server, chat, reply, "vote:x:whatever") == VOTE_FORGOTTEN
    assert len(stored_votes(state_file)) == before
    no_bad_requests(server)


def test_votes_survive_a_restart(seed_pipeline, seed_index, tmp_path):
    state = tmp_path / "state.sqlite3"
    with BotAPIServer() as server:
        settings = bot_settings(server, state, seed_index)
        with BotRunner(settings, seed_pipeline):
            [reply] = ask(server, 603, QUESTION)
        with BotRunner(settings, seed_pipeline):  # the answer's data is in the state: the vote counts
            assert press(server, 603, reply, vote_data(reply, word("button.useful"))) == word("vote.thanks")
        assert [(v["chat"], v["vote"], v["answer"]["question"]) for v in stored_votes(state)] == [
            (603, "useful", QUESTION)]
        state.unlink()  # an answer the state no longer holds: a polite answer, nothing recorded
        with BotRunner(settings, seed_pipeline):
            assert press(server, 603, reply, vote_data(reply, word("button.not_useful"))) == VOTE_FORGOTTEN
        assert stored_votes(state) == []


# ---------------------------------------------------------------- export


def test_export_writes_one_qa_item_per_vote_and_refuses_bad_paths(server, bot, state_file, tmp_path):
    chat = 604
    [abstention] = ask(server, chat, UNANSWERABLE)
    press(server, chat, abstention, vote_data(abstention, word("button.not_useful")))
    [reply] = ask(server, chat, QUESTION)
    press(server, chat, reply, vote_data(reply, word("button.useful")))
    bot.wait_idle(server)
    votes = stored_votes(state_file)
    done = export(tmp_path, state_file, "feedback.jsonl")
    assert done.returncode == 0, done.stderr
    assert f"wrote {len(votes)} vote(s)" in done.stderr
    lines = [json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(votes)
    assert [(line["question"], line["vote"], line["time"]) for line in lines] == [
        (v["answer"]["question"], v["vote"], v["time"]) for v in votes]
    for line in lines:
        assert line["answers"] == [] and line["review"] == (line["vote"] == "not_useful")
        assert set(line) >= {"resolved_question", "cited", "shown", "abstained", "answered_at"}
        assert "chat" not in json.dumps(line)  # the ids stay in the state file
    last = lines[-1]
    assert last["question"] == QUESTION and last["vote"] == "useful" and not last["review"]
    assert all(source["doc_id"] and source["title"] in reply.text for source in last["cited"])
    review = [line for line in lines if line["question"] == UNANSWERABLE and line["review"]]
    assert review and review[-1]["abstained"] and review[-1]["vote"] == "not_useful"
    # evaluate.py's reader takes the file as it is (a reviewer fills "answers")
    assert [item.question for item in read_qa(tmp_path / "feedback.jsonl")] == [line["question"] for line in lines]
    # bad targets: a clear error, nothing half-written
    for target, says in ((str(tmp_path), "is a folder"), ("missing/out.jsonl", "does not exist")):
        refused = export(tmp_path, state_file, target)
        assert refused.returncode == 1 and says in refused.stderr and "Traceback" not in refused.stderr
    no_state = export(tmp_path, tmp_path / "nowhere.sqlite3", "x.jsonl")
    assert no_state.returncode == 1 and "no bot state" in no_state.stderr
    assert not (tmp_path / "nowhere.sqlite3").exists() and not (tmp_path / "x.jsonl").exists()


# ---------------------------------------------------------------- /latest


def test_latest_on_an_index_without_dates_says_so(server, bot):
    [reply] = ask(server, 605, "/latest")
    assert reply.text == NO_DATED_ARTICLES


def test_latest_lists_the_newest_headlines_with_their_dates_and_links(seed_pipeline, tmp_path):
    from retrieval.index import Index
    from retrieval.ingest.build import build_index
    from retrieval.pipeline import Pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / DATED_CORPUS.name).write_bytes(DATED_CORPUS.read_bytes())
    settings = seed_settings(tmp_path / "index")
    build_index(settings, corpus=corpus, embedder=seed_pipeline.embedder, progress=False)
    dated = Pipeline(settings, Index.load(settings.index.index_dir, settings), seed_pipeline.embedder)
    articles = [json.loads(line) for line in DATED_CORPUS.read_text(encoding="utf-8").splitlines()]
    newest_first = sorted(articles, key=lambda a: a["date"], reverse=True)
    with BotAPIServer() as server:
        with BotRunner(bot_settings(server, tmp_path / "state.sqlite3", settings.index.index_dir), dated):
            [reply] = ask(server, 606, "/latest")
    lines = reply.text.split("\n")
    assert lines[0] == LATEST_HEADING and len(lines) == 1 + len(articles)
    for line, article in zip(lines[1:], newest_first):
        assert line == f"• {article['title']} ({format_date_ar(parse_date(article['date']))})"
    links = [entity["url"] for entity in reply.entities if entity["type"] == "text_link"]
    assert links == [article["url"] for article in newest_first]
    assert "28 يونيو 2018" in lines[1]


def test_a_chats_unvoted_answers_are_pruned_and_voted_ones_kept(tmp_path):
    from bot.state import KEPT_ANSWERS_PER_CHAT, AnsweredRecord, StateStore

    store = StateStore(tmp_path / "state.sqlite3")
    record = AnsweredRecord(question="س", resolved_question="س", time="2018-03-06T00:00:00+00:00")
    store.save_answer("first", 7, record)
    store.save_answer("voted", 7, record)
    assert store.save_vote("voted", 7, 70, "useful", "t1") is None
    assert store.save_vote("voted", 7, 71, "not_useful", "t2") is None  # another member of a group
    assert store.save_vote("voted", 7, 70, "not_useful", "t3") == "useful"
    for number in range(KEPT_ANSWERS_PER_CHAT):
        store.save_answer(f"k{number}", 7, record)
    store.save_answer("other chat", 8, record)
    assert store.answered("first") is None and store.answered("k0") is not None
    assert store.answered("voted") == record and store.answered("other chat") == record
    assert [(v.key, v.vote, v.time) for v in store.votes()] == [("voted", "not_useful", "t2"), ("voted", "not_useful", "t3")]
    store.close()


def test_an_english_question_is_answered_voted_on_and_paged_in_english(server, bot, seed_pipeline, state_file):
    """A question asked in English: the quotes stay Arabic; the words around them, the buttons and the
    thanks for a vote are English (the same flow as an Arabic question otherwise)."""
    chat, question = 603, "Who did Hassan Rashad meet in Jerusalem?"
    expected = seed_pipeline.answer(question)
    assert expected.language == "en" and expected.excerpts
    [reply] = ask(server, chat, question)
    assert word("answer.sources", "en") in reply.text and word("answer.sources") not in reply.text
    assert expected.excerpts[0].text[:40] in reply.text
    labels = [b["text"] for b in reply.buttons()]
    assert labels[:2] == [word("button.useful", "en"), word("button.not_useful", "en")]
    assert (word("button.more", "en") in labels) == bool(expected.more) and word("button.more") not in labels
    assert press(server, chat, reply, vote_data(reply, word("button.useful", "en"))) == word("vote.thanks", "en")
    assert press(server, chat, reply, vote_data(reply, word("button.useful", "en"))) == word("vote.same", "en")
    [unanswered] = ask(server, chat, "What is the capital of Japan?")
    assert unanswered.text.startswith(word("answer.none", "en"))
    no_bad_requests(server)
