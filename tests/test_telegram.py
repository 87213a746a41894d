"""The real bot Application, on the real seed index, against the loopback Bot API server
over HTTP on 127.0.0.1 (tests/botapi_server.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from botapi_server import BOT_USERNAME, TOKEN, BotAPIServer, BotRunner, parse_html

from bot.rate_limit import UserRateLimit
from bot.render import TELEGRAM_LIMIT, render_telegram, utf16_len
from bot.texts import (
    COMMAND_DESCRIPTIONS,
    EDITED,
    NEW_CONVERSATION,
    NOT_ALLOWED,
    RATE_LIMITED,
    SINCE_OFF,
    SINCE_USAGE,
    SORRY,
    STALE_BUTTON,
    TEXT_ONLY,
    count_articles,
)
from retrieval.answer.catalog import word
from retrieval.models import Answer, Conversation, Excerpt, Source
from retrieval.settings import Settings

QUESTION = "من التقى رشاد؟"
IN_JERUSALEM = "من التقى رشاد في القدس؟"
FOLLOW_UP = "ومتى كان ذلك؟"
ENGLISH_EXAMPLE = "Who did Hassan Rashad meet in Jerusalem?"
UNANSWERABLE = "من فاز بكأس العالم 2022؟"
LONG_QUESTION = "أعطني الجواب الطويل"
BOOM = "سؤال يفجر المكونات"


class ScriptedPipeline:
    """The real pipeline, except for two scripted questions: a synthetic answer too long
    for one message, and one that raises (to exercise the error handler)."""

    def __init__(self, real) -> None:
        self.real = real

    def answer(self, question: str, conversation: Conversation | None = None, **options) -> Answer:
        if question == BOOM:
            raise RuntimeError("boom from the pipeline")
        if question == LONG_QUESTION:
            sentence = "التقى رشاد نتنياهو في القدس يوم الثلاثاء لبحث وقف إطلاق النار & <الهدنة>. "
            text = sentence * 70
            return Answer(
                question=question, resolved_question=question,
                excerpts=[Excerpt(text=text, doc_id="x", start=0, end=len(text), citations=[1],
                                  highlights=[(6, 10)])],
                sources=[Source(number=1, doc_id="x", title="مقال طويل", source="x.txt", url="https://e.x/?a=1&b=2")],
            )
        return self.real.answer(question, conversation, **options)

    def documents(self):
        return self.real.documents()

    def newest_date(self):
        return self.real.newest_date()


def bot_settings(server: BotAPIServer, state_file: Path, seed_index: Path, **overrides) -> Settings:
    values = dict(
        telegram_bot_token=TOKEN,
        telegram_base_url=server.base_url,
        state_file=state_file,
        index_dir=seed_index,
        rate_limit_per_minute=1000,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def server():
    with BotAPIServer() as api:
        yield api


@pytest.fixture()
def own_server():
    """A server of its own, for a test that runs its own bot (one poller per token)."""
    with BotAPIServer() as api:
        yield api


@pytest.fixture(scope="module")
def bot(server, seed_pipeline, seed_index, tmp_path_factory):
    state = tmp_path_factory.mktemp("bot") / "state.sqlite3"
    runner = BotRunner(bot_settings(server, state, seed_index), ScriptedPipeline(seed_pipeline))
    with runner:
        yield runner
    assert TOKEN not in runner.logs.text()


def ask(server: BotAPIServer, chat_id: int, text: str, replies: int = 1, **options) -> list:
    """Send a text and wait for ``replies`` new messages in the chat; return them."""
    before = len(server.sent_to(chat_id))
    server.send_text(chat_id, text, **options)
    return server.wait_for_messages(chat_id, before + replies)[before:]


def more_data(message) -> str | None:
    """The callback data of the message's "more" button (None: it has none)."""
    return next((b["callback_data"] for b in message.buttons() if b["text"] == word("button.more")), None)


def no_bad_requests(server: BotAPIServer) -> None:
    refused = [(r.method, r.description) for r in server.errors() if r.status == 400]
    assert refused == []


# ---------------------------------------------------------------- answers


def test_question_is_answered_with_citations_and_sources(server, bot):
    [reply] = ask(server, 101, QUESTION)
    assert "نتنياهو" in reply.text and "ويتكوف" in reply.text
    assert word("answer.sources") in reply.text and "[1]" in reply.text
    assert any(entity["type"] == "bold" for entity in reply.entities)  # highlighted terms
    assert [button["text"] for button in reply.buttons()] == [word("button.useful"), word("button.not_useful"), word("button.more")]
    assert server.actions[101] == ["typing"]
    bot.wait_idle(server)
    assert bot.logs.count("answered chat=101 ") == 1
    assert QUESTION not in bot.logs.text(logging.INFO)  # the user's words are not logged


def test_start_help_and_help_addressed_to_the_bot(server, bot):
    for command in ("/start", "/help", f"/help@{BOT_USERNAME}"):
        [reply] = ask(server, 102, command)
        assert QUESTION in reply.text and "/sources" in reply.text
        assert "مين قابل رشاد؟" in reply.text and ENGLISH_EXAMPLE in reply.text  # dialect and English welcome
    assert [c["command"] for c in server.commands] == ["start", "help", "sources", "new", "since", "latest"]
    assert list(COMMAND_DESCRIPTIONS) == [c["command"] for c in server.commands]


@pytest.mark.parametrize("example", [QUESTION, "مين قابل رشاد؟"])
def test_the_help_examples_are_answered_with_both_meetings(seed_pipeline, example):
    answer = seed_pipeline.answer(example)
    assert not answer.abstained and "نتنياهو" in answer.text and "ويتكوف" in answer.text


def test_the_english_help_example_leads_with_the_meeting(seed_pipeline):
    answer = seed_pipeline.answer(ENGLISH_EXAMPLE)
    assert not answer.abstained and "نتنياهو" in answer.excerpts[0].text and answer.language == "en"


def test_a_greeting_is_answered_in_kind_without_buttons(server, bot):
    [reply] = ask(server, 113, "السلام عليكم")
    assert reply.text.startswith("وعليكم السلام") and QUESTION in reply.text and reply.buttons() == []
    [reply] = ask(server, 113, "thanks!")
    assert reply.text == word("small_talk.thanks", "en") and reply.buttons() == []
    no_bad_requests(server)


def test_sources_lists_every_article(server, bot, seed_pipeline):
    [reply] = ask(server, 103, "/sources")
    documents = seed_pipeline.documents()
    assert count_articles(len(documents)) in reply.text
    for info in documents:
        assert info.title in reply.text


def test_follow_up_sent_at_once_is_answered_in_context_and_in_order(server, bot):
    server.send_text(104, IN_JERUSALEM)
    server.send_text(104, FOLLOW_UP)  # before the first is answered: the chat lock orders them
    first, second = server.wait_for_messages(104, 2)
    assert "نتنياهو" in first.text
    assert "الثلاثاء" in second.text


def test_new_forgets_the_conversation(server, bot):
    ask(server, 105, IN_JERUSALEM)
    store = bot.application.bot_data["state"].store
    assert store.conversation(105).turns
    [reply] = ask(server, 105, "/new")
    assert reply.text == NEW_CONVERSATION
    assert store.conversation(105).turns == []


def test_since_sets_a_period_for_the_chat_kept_across_new_and_lifted_by_off(server, bot):
    store = bot.application.bot_data["state"].store
    [usage] = ask(server, 141, "/since")
    assert usage.text == SINCE_USAGE
    [bad] = ask(server, 141, "/since قريباً")
    assert "قريباً" in bad.text and "/since 2018-03-01" in bad.text and store.since(141) is None
    [told] = ask(server, 141, "/since آذار ٢٠٩٩")  # Levantine month, Arabic-Indic digits
    assert "2099-03-01" in told.text and "/since off" in told.text
    assert str(store.since(141)) == "2099-03-01"
    [now] = ask(server, 141, "/since")
    assert "2099-03-01" in now.text
    [nothing] = ask(server, 141, QUESTION)  # no article is that new: nothing to quote
    assert nothing.text.startswith(word("answer.none")) and "نتنياهو" not in nothing.text
    ask(server, 141, "/new")
    assert str(store.since(141)) == "2099-03-01"  # a setting of the chat, not part of the conversation
    [other] = ask(server, 142, QUESTION)  # another chat is not filtered
    assert "نتنياهو" in other.text
    [off] = ask(server, 141, "/since off")
    assert off.text == SINCE_OFF and store.since(141) is None
    [answer] = ask(server, 141, QUESTION)
    assert "نتنياهو" in answer.text
    no_bad_requests(server)


def test_unanswerable_question_gets_the_abstention_message(server, bot, seed_pipeline):
    expected = seed_pipeline.answer(UNANSWERABLE)
    assert expected.abstained
    [reply] = ask(server, 106, UNANSWERABLE)
    assert reply.text.startswith(expected.message)
    assert word("answer.sources") not in reply.text and more_data(reply) is None
    assert [b["text"] for b in reply.buttons()] == [word("button.useful"), word("button.not_useful")]  # an abstention is voted on too
    if expected.suggestions:
        assert word("answer.suggestions") in reply.text


def test_more_button_shows_next_excerpts_then_goes_stale(server, bot, seed_pipeline):
    [answer_message] = ask(server, 107, QUESTION)
    data = more_data(answer_message)
    assert len(data.encode()) <= 64 and QUESTION not in data
    held_back = seed_pipeline.answer(QUESTION).more
    query = server.press_button(107, answer_message.message_id, data)
    more = server.wait_for_messages(107, 2)[1:]
    assert held_back[0].text[:40] in more[0].text
    server.wait_for(lambda: server.callback_queries[query]["answered"] is not None)
    kept = server.messages[(107, answer_message.message_id)]["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in kept] == [[word("button.useful"), word("button.not_useful")]]  # "more" removed
    stale = server.press_button(107, answer_message.message_id, data)  # the same button again
    server.wait_for(lambda: server.callback_queries[stale]["answered"] is not None)
    assert server.callback_queries[stale]["answered"]["text"] == STALE_BUTTON
    bogus = server.press_button(107, answer_message.message_id, "more:nonsense")
    server.wait_for(lambda: server.callback_queries[bogus]["answered"] is not None)
    bot.wait_idle(server)
    assert len(server.sent_to(107)) == 1 + len(more)
    no_bad_requests(server)


def test_more_button_pages_through_what_the_answer_holds_back(server, bot, seed_pipeline):
    chat, size = 111, bot.application.bot_data["state"].settings.answer.answer_max_excerpts
    pages, page = [], seed_pipeline.answer(QUESTION).next_page(size)
    while page is not None:
        pages.append(page)
        page = page.next_page(size)
    assert len(pages) >= 2  # the seed question holds back more than one page
    sent = ask(server, chat, QUESTION)
    for page in pages:
        before = len(server.sent_to(chat))
        server.press_button(chat, sent[-1].message_id, more_data(sent[-1]))
        sent = server.wait_for_messages(chat, before + len(render_telegram(page)))[before:]
        assert [message.html for message in sent] == render_telegram(page)  # Answer.next_page, as rendered
    bot.wait_idle(server)
    assert more_data(sent[-1]) is None and len(server.sent_to(chat)) == 1 + len(pages)
    no_bad_requests(server)


def test_long_answer_arrives_in_two_valid_messages(server, bot):
    messages = ask(server, 108, LONG_QUESTION, replies=2)
    bot.wait_idle(server)
    assert len(server.sent_to(108)) == 2
    for message in messages:
        assert utf16_len(message.html) <= TELEGRAM_LIMIT
        assert utf16_len(message.text) <= TELEGRAM_LIMIT
        parse_html(message.html)
    assert "&" in messages[0].text and "<الهدنة>" in messages[0].text
    assert word("answer.sources") in messages[-1].text
    no_bad_requests(server)


def test_pipeline_failure_gets_a_polite_reply_and_the_bot_goes_on(server, bot):
    [reply] = ask(server, 109, BOOM)
    assert reply.text == SORRY
    bot.wait_idle(server)
    assert bot.logs.count("boom from the pipeline") >= 1  # logged with its traceback
    [reply] = ask(server, 109, QUESTION)
    assert "نتنياهو" in reply.text


# ---------------------------------------------------------------- bad input


def test_bad_inputs_get_short_replies_and_never_a_400(server, bot, seed_pipeline):
    chat = 110
    first = server.send_text(chat, "سؤال أول")
    server.wait_for_messages(chat, 1)
    for kind in ("photo", "sticker", "voice", "document", "location"):
        server.send_other(chat, kind)
    server.edit_text(chat, first["message_id"], "سؤال معدّل")
    server.send_text(chat, "   \n\t ")
    server.send_text(chat, "😀🎉👍")
    server.send_text(chat, "؟؟؟ ... !!!")
    too_long = "رشاد " * 800  # 4,000 characters
    server.send_text(chat, too_long)
    server.send_text(chat, "<b>من</b> التقى <i>رشاد</i>؟ &amp; *نجمة* _خط_ `رمز` </a><script>")
    server.send_text(chat, "\u200fمن التقى رشاد؟\u200e\u202b")
    server.send_text(chat, "/unknown")
    ask_count = 1 + 5 + 1 + 3 + 1 + 2 + 1
    sent = server.wait_for_messages(chat, ask_count, timeout=20)
    bot.wait_idle(server)
    texts = [message.text for message in server.sent_to(chat)]
    assert len(texts) == ask_count
    assert texts.count(TEXT_ONLY) == 5
    assert texts.count(EDITED) == 1
    assert texts.count(word("question.empty")) == 1 and texts.count(word("question.no_words")) == 2
    # the pipeline's refusal, word for word (the REPL prints the same; tests/test_repl.py)
    refusal = seed_pipeline.answer(too_long)
    assert refusal.refused == "too_long" and texts.count(refusal.message) == 1
    assert "طويل جداً (3999 حرفاً)؛ الحد 1000 حرف" in refusal.message
    assert sum("نتنياهو" in text for text in texts) >= 2  # the marked-up and the RTL-marked questions
    no_bad_requests(server)
    [reply] = ask(server, chat, QUESTION)  # still answering
    assert "نتنياهو" in reply.text and sent


def test_group_answers_only_commands_mentions_and_replies(server, bot):
    group, user = -100110, 1101
    server.send_group_text(group, "حديث بين الأعضاء لا يخص البوت", user_id=user)
    server.send_group_text(group, QUESTION, user_id=user)  # not addressed: ignored
    server.send_group_text(group, "/help@SomeOtherBot", user_id=user)
    mention = server.send_group_text(group, f"@{BOT_USERNAME} {IN_JERUSALEM}", user_id=user)
    [answer] = server.wait_for_messages(group, 1)
    assert "نتنياهو" in answer.text and answer.reply_to == mention["message_id"]
    server.send_group_text(group, FOLLOW_UP, user_id=user, reply_to=answer.message_id)
    follow_up = server.wait_for_messages(group, 2)[1]
    assert "الثلاثاء" in follow_up.text
    server.send_group_text(group, f"/help@{BOT_USERNAME}", user_id=user)
    assert QUESTION in server.wait_for_messages(group, 3)[2].text
    bot.wait_idle(server)
    assert len(server.sent_to(group)) == 3
    assert f"@{BOT_USERNAME}" not in bot.application.bot_data["state"].store.conversation(group).turns[0].question


# ---------------------------------------------------------------- many chats


def test_twenty_chats_at_once_are_each_answered_exactly_once(server, bot, seed_pipeline):
    chats = list(range(2001, 2021))
    expected = len(render_telegram(seed_pipeline.answer(QUESTION)))
    for chat in chats:
        server.send_text(chat, QUESTION)
    for chat in chats:
        server.wait_for_messages(chat, expected, timeout=30)
    bot.wait_idle(server)
    for chat in chats:
        replies = server.sent_to(chat)
        assert len(replies) == expected and "نتنياهو" in replies[0].text
    assert bot.logs.count("answered chat=20") == 20


# ---------------------------------------------------------------- access and limits


def test_allow_list_refuses_once_and_rate_limit_warns_once(own_server, seed_pipeline, seed_index, tmp_path):
    server = own_server
    settings = bot_settings(server, tmp_path / "state.sqlite3", seed_index,
                            allowed_user_ids=[3001], allowed_chat_ids=[-1003000], rate_limit_per_minute=2)
    with BotRunner(settings, seed_pipeline) as runner:
        # a stranger: one polite refusal, then silence; a button press is refused too
        server.send_text(3002, QUESTION)
        server.send_text(3002, "/help")
        [refusal] = server.wait_for_messages(3002, 1)
        assert refusal.text == NOT_ALLOWED
        server.wait_for(lambda: runner.logs.count("refused chat=3002 ") == 2)
        # anyone in an allowed group may ask
        server.send_group_text(-1003000, f"@{BOT_USERNAME} {QUESTION}", user_id=3003)
        assert "نتنياهو" in server.wait_for_messages(-1003000, 1)[0].text
        # the allowed user: two questions a minute, then one warning, then silence
        for _ in range(4):
            server.send_text(3001, QUESTION)
        replies = server.wait_for_messages(3001, 3)
        runner.wait_idle(server)
        texts = [message.text for message in server.sent_to(3001)]
        assert len(texts) == 3 and texts.count(RATE_LIMITED) == 1
        assert sum("نتنياهو" in text for text in texts) == 2
        query = server.press_button(3001, replies[0].message_id, "more:whatever", user_id=3004)
        server.wait_for(lambda: server.callback_queries[query]["answered"] is not None)
        assert server.callback_queries[query]["answered"]["text"] == NOT_ALLOWED
        runner.wait_idle(server)
        assert len(server.sent_to(3002)) == 1
        assert TOKEN not in runner.logs.text()


def test_user_rate_limit_window_slides():
    now = [0.0]
    limit = UserRateLimit(2, clock=lambda: now[0])
    assert limit.check(1) == (True, False) and limit.check(1) == (True, False)
    assert limit.check(1) == (False, True) and limit.check(1) == (False, False)
    assert limit.check(2) == (True, False)
    now[0] = 61.0
    assert limit.check(1) == (True, False)


# ---------------------------------------------------------------- restart


def test_conversation_and_more_button_survive_a_restart(own_server, seed_pipeline, seed_index, tmp_path):
    server = own_server
    settings = bot_settings(server, tmp_path / "state.sqlite3", seed_index)
    with BotRunner(settings, seed_pipeline) as first:
        [answer] = ask(server, 4001, IN_JERUSALEM)
    assert TOKEN not in first.logs.text()
    with BotRunner(settings, seed_pipeline) as second:
        server.press_button(4001, answer.message_id, more_data(answer))
        [more] = server.wait_for_messages(4001, 2)[1:]
        assert word("answer.sources") in more.text
        [reply] = ask(server, 4001, FOLLOW_UP)
        assert "الثلاثاء" in reply.text
        assert TOKEN not in second.logs.text()
    assert TOKEN.encode() not in (tmp_path / "state.sqlite3").read_bytes()


def test_state_store_round_trip_bad_rows_and_private_file(tmp_path):
    from bot.state import PendingMore, StateStore
    from retrieval.models import Turn

    path = tmp_path / "state" / "bot.sqlite3"
    store = StateStore(path)
    conversation = Conversation()
    conversation.add(Turn(question="س", resolved_question="س", doc_ids=["a"], terms=["رشاد"]))
    store.save_conversation(7, conversation)
    held = Answer(question="س", resolved_question="س", more=[Excerpt(text="ن", doc_id="a", start=0, end=1, citations=[1])])
    store.save_pending_more(7, PendingMore(key="k", answer=held))
    assert store.mark_refused(9) and not store.mark_refused(9)
    store.close()
    reopened = StateStore(path)
    assert reopened.conversation(7) == conversation and reopened.pending_more(7) == PendingMore(key="k", answer=held)
    assert not reopened.mark_refused(9)
    reopened._write("UPDATE conversations SET data = ? WHERE chat_id = 7", ("not json",))  # noqa: SLF001
    assert reopened.conversation(7) == Conversation()  # unreadable: start afresh, never crash
    from datetime import date
    reopened.save_since(7, date(2018, 3, 1))
    assert reopened.since(7) == date(2018, 3, 1) and reopened.since(8) is None
    reopened.forget(7)
    assert reopened.pending_more(7) is None
    assert reopened.since(7) == date(2018, 3, 1)  # /new keeps the chat's /since
    reopened._write("UPDATE since_dates SET day = ? WHERE chat_id = 7", ("not a date",))  # noqa: SLF001
    assert reopened.since(7) is None
    reopened.save_since(7, None)
    assert path.stat().st_mode & 0o077 == 0
