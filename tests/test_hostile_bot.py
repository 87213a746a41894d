"""Hostile input against the Telegram bot, measured (docs/hostile-input.md, "Telegram"): the real
Application over real HTTP on loopback (tests/botapi_server.py), on the real seed index."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest
from botapi_server import TOKEN, BotAPIServer, BotRunner, parse_html

from bot.render import MAX_REPLY_MESSAGES, render_telegram, render_telegram_text
from bot.security import REDACTOR, install_token_redaction
from bot.state import Retention, StateStore
from bot.texts import NEW_CONVERSATION, RATE_LIMITED, STALE_BUTTON
from retrieval.answer.catalog import word
from retrieval.backends import milvus_store
from retrieval.models import Answer, Conversation, Excerpt, Source
from retrieval.settings import Settings

QUESTION = "من التقى رشاد؟"
IN_JERUSALEM = "من التقى رشاد في القدس؟"
HUGE_TITLE = "سؤال عن المقال ذي العنوان الهائل"
HUGE_EXCERPT = "سؤال عن المقتطف الهائل"
HOSTILE_URL = 'https://e.x/a\x00b\nc d\u202e"><script>'
DAY = 86_400.0


class HostilePipeline:
    """The real pipeline, except two questions whose answers carry what a hostile index could: a 400k-character
    title with a link address full of control characters, and a 400k-character excerpt with no space in it."""

    def __init__(self, real) -> None:
        self.real = real

    def answer(self, question: str, conversation: Conversation | None = None, **options) -> Answer:
        if question == HUGE_TITLE:
            return title_answer()
        if question == HUGE_EXCERPT:
            return excerpt_answer()
        return self.real.answer(question, conversation, **options)

    def documents(self):
        return self.real.documents()

    def newest_date(self):
        return self.real.newest_date()


def title_answer() -> Answer:
    excerpt = "التقى رشاد نتنياهو في القدس."
    return Answer(question=HUGE_TITLE, resolved_question=HUGE_TITLE,
                  excerpts=[Excerpt(text=excerpt, doc_id="x", start=0, end=len(excerpt), citations=[1])],
                  sources=[Source(number=1, doc_id="x", title="ع" * 400_000, source="x.txt", url=HOSTILE_URL)])


def excerpt_answer() -> Answer:
    text = "ع" * 400_000
    return Answer(question=HUGE_EXCERPT, resolved_question=HUGE_EXCERPT,
                  excerpts=[Excerpt(text=text, doc_id="x", start=0, end=len(text), citations=[1])],
                  sources=[Source(number=1, doc_id="x", title="مقال", source="x.txt", url="https://e.x/a")])


def bot_settings(server: BotAPIServer, state_file: Path, seed_index: Path, **overrides) -> Settings:
    values = dict(telegram_bot_token=TOKEN, telegram_base_url=server.base_url, state_file=state_file,
                  index_dir=seed_index, rate_limit_per_minute=1000)
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture()
def server():
    with BotAPIServer() as api:
        yield api


def ask(server: BotAPIServer, chat_id: int, text: str, replies: int = 1, **options) -> list:
    before = len(server.sent_to(chat_id))
    server.send_text(chat_id, text, **options)
    return server.wait_for_messages(chat_id, before + replies)[before:]


def rows(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Read the state file as anyone with the file could (not through the store)."""
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


# ---------------------------------------------------------------- every reply counts toward the rate limit


def test_a_flood_of_commands_refusals_and_small_talk_gets_at_most_limit_replies_and_one_notice(
        server, seed_pipeline, seed_index, tmp_path):
    chat = 5001
    flood = ["/help", "/sources", "/latest", "/start", "السلام عليكم", "شكراً", "؟؟؟", "   ", "/unknown", "/since"] * 3
    settings = bot_settings(server, tmp_path / "state.sqlite3", seed_index, rate_limit_per_minute=2)
    with BotRunner(settings, seed_pipeline) as runner:
        for text in flood:  # 30 inputs, none of them a question the pipeline answers
            server.send_text(chat, text)
        server.wait_for_messages(chat, 3, timeout=20)
        runner.wait_idle(server, timeout=20)
        # button presses count too: silence (an empty popup), the notice was already given in this window
        queries = [server.press_button(chat, server.sent_to(chat)[0].message_id, data) for data in ("more:x", "vote:u:y")]
        server.wait_for(lambda: all(server.callback_queries[q]["answered"] is not None for q in queries))
        runner.wait_idle(server)
    texts = [message.text for message in server.sent_to(chat)]
    assert len(texts) <= 2 + 1 and texts.count(RATE_LIMITED) == 1  # before: 30 replies to 30 inputs
    assert [server.callback_queries[q]["answered"].get("text") for q in queries] == [None, None]


# ---------------------------------------------------------------- rendering: bounded, off the event loop, clean links


def test_a_400k_character_title_or_excerpt_renders_within_the_message_cap():
    for answer in (title_answer(), excerpt_answer()):
        started = time.perf_counter()
        messages = render_telegram(answer)
        assert len(messages) <= MAX_REPLY_MESSAGES  # before: 100 messages in 4 s
        assert time.perf_counter() - started < 2.0
        for html in messages:
            parse_html(html)  # each valid on its own
    many_titles = "\n".join("• " + "ع" * 400_000 for _ in range(50))  # /sources of an index with huge titles
    assert len(render_telegram_text(many_titles)) <= MAX_REPLY_MESSAGES


def test_link_addresses_are_cleaned_before_they_become_an_href():
    [html] = render_telegram(title_answer())
    _, entities = parse_html(html)
    [link] = [entity for entity in entities if entity["type"] == "text_link"]
    assert link["url"].startswith("https://e.x/a")
    assert not any(ch.isspace() or ord(ch) < 32 or ch in '"<>\u202e' for ch in link["url"]), link["url"]
    for url in ("javascript:alert(1)", "file:///etc/passwd", "https://", "http:// spaced.example"):
        answer = title_answer().model_copy(update={"sources": [Source(number=1, doc_id="x", title="t", source="s", url=url)]})
        assert "<a " not in "".join(render_telegram(answer)), url


def test_a_huge_answer_neither_floods_the_chat_nor_blocks_other_chats(server, seed_pipeline, seed_index, tmp_path):
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:  # how late the bot's event loop wakes a 10 ms sleep
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - started - 0.01)

    settings = bot_settings(server, tmp_path / "state.sqlite3", seed_index)
    with BotRunner(settings, HostilePipeline(seed_pipeline)) as runner:
        ask(server, 5300, QUESTION)  # warm: the first answer loads lazy parts
        ticking = asyncio.run_coroutine_threadsafe(ticker(), runner.loop)
        server.send_text(5301, HUGE_TITLE)
        server.send_text(5302, HUGE_EXCERPT)
        server.send_text(5303, QUESTION)  # another chat, meanwhile
        [other] = server.wait_for_messages(5303, 1, timeout=30)
        server.wait_for_messages(5301, 1, timeout=30)
        server.wait_for_messages(5302, 1, timeout=30)
        runner.wait_idle(server, timeout=30)
        runner.loop.call_soon_threadsafe(stop.set)
        ticking.result(5)
    assert "نتنياهو" in other.text
    assert len(server.sent_to(5301)) <= MAX_REPLY_MESSAGES and len(server.sent_to(5302)) <= MAX_REPLY_MESSAGES
    assert [r for r in server.errors() if r.status == 400] == []
    assert max(lags) < 1.0, f"the event loop stalled {max(lags):.2f} s"  # before: ~4 s per huge answer


# ---------------------------------------------------------------- privacy: /new, retention, logs


def test_new_deletes_the_chats_stored_answers_and_their_question_text(server, seed_pipeline, seed_index, tmp_path):
    state = tmp_path / "state.sqlite3"
    with BotRunner(bot_settings(server, state, seed_index), seed_pipeline) as runner:
        [answer] = ask(server, 5401, IN_JERUSALEM)
        ask(server, 5402, IN_JERUSALEM)  # another chat keeps its own
        vote = next(b["callback_data"] for b in answer.buttons() if b["callback_data"].startswith("vote:"))
        query = server.press_button(5401, answer.message_id, vote)
        server.wait_for(lambda: server.callback_queries[query]["answered"] is not None)
        assert server.callback_queries[query]["answered"]["text"] == word("vote.thanks")
        assert rows(state, "SELECT count(*) FROM answers WHERE chat_id = 5401") == [(1,)]
        [reply] = ask(server, 5401, "/new")
        runner.wait_idle(server)
    assert reply.text == NEW_CONVERSATION
    for table in ("answers", "conversations", "pending_more", "votes"):
        assert rows(state, f"SELECT count(*) FROM {table} WHERE chat_id = 5401") == [(0,)], table  # before: answers stayed
    assert rows(state, "SELECT count(*) FROM answers WHERE chat_id = 5402") == [(1,)]
    assert not any(IN_JERUSALEM in str(row) for table in ("answers", "conversations", "pending_more")
                   for row in rows(state, f"SELECT * FROM {table} WHERE chat_id = 5401"))


def test_rows_past_their_retention_are_purged(tmp_path):
    path = tmp_path / "state.sqlite3"
    now = time.time()
    store = StateStore(path)
    for chat in (1, 2):
        store.save_conversation(chat, Conversation())
        record = {"question": "س", "resolved_question": "س", "time": "2020-01-01T00:00:00+00:00"}
        from bot.state import AnsweredRecord
        store.save_answer(f"k{chat}", chat, AnsweredRecord(**record))
        store.save_vote(f"k{chat}", chat, chat, "useful", "2020-01-01T00:00:00+00:00" if chat == 1 else "2099-01-01T00:00:00+00:00")
    store.close()
    with sqlite3.connect(path) as db:  # chat 1's rows are old; chat 2's are fresh
        db.execute("UPDATE conversations SET updated = ? WHERE chat_id = 1", (now - 8 * DAY,))
        db.execute("UPDATE answers SET created = ? WHERE chat_id = 1", (now - 31 * DAY,))
    store = StateStore(path, retention=Retention(conversation_days=7, answer_days=30, vote_days=365))  # purged at start
    assert store.conversation(1) == Conversation() and store.answered("k1") is None
    assert rows(path, "SELECT chat_id FROM conversations") == [(2,)]
    assert rows(path, "SELECT chat_id FROM answers") == [(2,)]
    assert rows(path, "SELECT chat_id FROM votes") == [(2,)]
    assert store.purge(now + 366 * DAY) > 0  # and again whenever asked (the bot: hourly)
    assert rows(path, "SELECT count(*) FROM answers") == [(0,)] and rows(path, "SELECT count(*) FROM conversations") == [(0,)]
    store.close()


def test_the_bot_purges_expired_rows_when_it_starts(server, seed_pipeline, seed_index, tmp_path):
    state = tmp_path / "state.sqlite3"
    StateStore(state).close()
    with sqlite3.connect(state) as db:
        db.execute("INSERT INTO answers (key, chat_id, data, created) VALUES ('old', 5, '{}', ?)", (time.time() - 40 * DAY,))
    with BotRunner(bot_settings(server, state, seed_index), seed_pipeline):
        pass
    assert rows(state, "SELECT count(*) FROM answers") == [(0,)]


def test_debug_logging_emits_no_user_text(server, seed_pipeline, seed_index, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with BotRunner(bot_settings(server, tmp_path / "state.sqlite3", seed_index), seed_pipeline) as runner:
        [answer] = ask(server, 5501, IN_JERUSALEM)
        ask(server, 5501, "السلام عليكم يا صديقي العزيز")
        runner.wait_idle(server)
        captured = runner.logs.text(logging.DEBUG)
    assert "نتنياهو" in answer.text
    assert caplog.records and "answered chat=5501" in caplog.text  # the round trip was logged...
    for text in (IN_JERUSALEM, "السلام عليكم يا صديقي العزيز"):
        assert not any(text in record.getMessage() for record in caplog.records)  # ...without the user's words
        assert text not in captured  # before: PTB logged "Processing update Update(message=Message(text=...))"


# ---------------------------------------------------------------- a damaged state file


def test_a_damaged_state_file_is_moved_aside_and_the_bot_starts_afresh(server, seed_pipeline, seed_index, tmp_path):
    state = tmp_path / "state.sqlite3"
    damaged = os.urandom(8192)
    state.write_bytes(damaged)
    with BotRunner(bot_settings(server, state, seed_index), seed_pipeline) as runner:  # before: a traceback, no bot
        [reply] = ask(server, 5601, "/help")
        assert "/sources" in reply.text
        assert runner.logs.count("damaged") >= 1
    [aside] = list(tmp_path.glob("state.sqlite3.damaged-*"))
    assert aside.read_bytes() == damaged
    assert rows(state, "SELECT count(*) FROM conversations") == [(0,)]


def test_a_truncated_state_file_is_moved_aside(tmp_path):
    path = tmp_path / "state.sqlite3"
    store = StateStore(path)
    for chat in range(300):
        store.save_conversation(chat, Conversation())
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    store = StateStore(path)
    assert store.conversation(1) == Conversation()
    store.save_conversation(1, Conversation())
    store.close()
    assert len(list(tmp_path.glob("state.sqlite3.damaged-*"))) == 1


# ---------------------------------------------------------------- votes only from the answer's chat


def test_a_vote_from_another_chat_is_ignored(server, seed_pipeline, seed_index, tmp_path):
    state = tmp_path / "state.sqlite3"
    with BotRunner(bot_settings(server, state, seed_index), seed_pipeline) as runner:
        [answer] = ask(server, 5701, QUESTION)
        vote = next(b["callback_data"] for b in answer.buttons() if b["callback_data"].startswith("vote:"))
        [elsewhere] = ask(server, 5702, "/help")
        query = server.press_button(5702, elsewhere.message_id, vote)  # the answer's button data, from another chat
        server.wait_for(lambda: server.callback_queries[query]["answered"] is not None)
        runner.wait_idle(server)
    assert server.callback_queries[query]["answered"]["text"] == STALE_BUTTON  # before: word("vote.thanks"), and recorded
    assert rows(state, "SELECT count(*) FROM votes") == [(0,)]


# ---------------------------------------------------------------- Milvus: credentials never shown


def test_a_milvus_uri_is_shown_without_its_credentials():
    shown = milvus_store.display_uri("http://root:s3cretpass@db.example:19530/x?token=t0ken&db=news")
    assert "s3cretpass" not in shown and "t0ken" not in shown and "db.example:19530" in shown
    error = milvus_store.engine_error(RuntimeError("connect to http://root:s3cretpass@db.example:19530 failed"),
                                      "http://root:s3cretpass@db.example:19530", "cannot be reached")
    assert "s3cretpass" not in str(error) and "db.example:19530" in str(error)
    with pytest.raises(milvus_store.EngineError) as bad:
        milvus_store.uri_of(Settings(_env_file=None, milvus_uri="mysql://root:s3cretpass@db.example/x"))
    assert "s3cretpass" not in str(bad.value) and "db.example" in str(bad.value)


@pytest.mark.slow
def test_an_unreachable_milvus_with_credentials_is_reported_without_them():
    settings = Settings(_env_file=None, milvus_uri="http://root:s3cretpass@127.0.0.1:9", milvus_token="root:t0kensecret")
    with pytest.raises(milvus_store.EngineError) as error:
        milvus_store.connect(settings)  # pymilvus waits its 10 s connect timeout
    assert "s3cretpass" not in str(error.value) and "t0kensecret" not in str(error.value) and "127.0.0.1:9" in str(error.value)


def test_the_milvus_token_is_redacted_from_every_log_line(caplog):
    settings = Settings(_env_file=None, telegram_bot_token=TOKEN, milvus_token="root:Milvus-t0ken-value",
                        milvus_uri="http://admin:uri-passw0rd@db.example:19530")
    install_token_redaction(TOKEN, settings)
    with caplog.at_level(logging.INFO):
        logging.getLogger("retrieval.test").info("connecting with %s to %s", "root:Milvus-t0ken-value",
                                                 "http://admin:uri-passw0rd@db.example:19530")
    assert "Milvus-t0ken-value" not in caplog.text and "uri-passw0rd" not in caplog.text and "[REDACTED]" in caplog.text
    assert "Milvus-t0ken-value" not in REDACTOR.redact("token=Milvus-t0ken-value")


def test_retention_reads_the_settings():
    retention = Retention.from_settings(Settings(_env_file=None, conversation_days=1, answer_days=2, vote_days=3))
    assert (retention.conversation_days, retention.answer_days, retention.vote_days) == (1, 2, 3)


def test_the_rate_limiter_forgets_idle_users_so_a_flood_of_new_ids_stays_bounded() -> None:
    from bot import rate_limit

    now, largest = [0.0], 0
    limit = rate_limit.UserRateLimit(2, clock=lambda: now[0])
    for user in range(3 * rate_limit.PRUNE_ABOVE):  # a flood of distinct users, 10 ms apart (6,000 a minute)
        now[0] += 0.01
        assert limit.check(user) == (True, False)
        largest = max(largest, len(limit._times))  # noqa: SLF001 (ours: the record's size)
    assert largest <= rate_limit.PRUNE_ABOVE + 1  # was 30,000: one entry per id ever seen
    # an active user is not forgotten by a prune: still limited
    assert limit.check(user) == (True, False) and limit.check(user) == (False, True)
