"""The bot's thin handlers: each reads the update, asks the pipeline or the state store,
and sends rendered messages. What they share lives in ``BotState``."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
import weakref
from dataclasses import dataclass, field
from datetime import date

from telegram import (
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import texts as messages
from bot.commands import more_key, parse_command, parse_date_command
from bot.feedback import answered_record, now_iso, parse_vote_data, with_page
from bot.rate_limit import UserRateLimit
from bot.render import (
    Block,
    Run,
    answer_markup,
    pack_reply,
    render_telegram,
    render_telegram_text,
    shown_title,
    without_more,
)
from bot.security import is_allowed
from bot.state import PendingMore, StateStore
from bot.urls import is_web_url
from retrieval.answer.catalog import word
from retrieval.live import LivePipeline
from retrieval.models import Answer, DocumentInfo
from retrieval.pipeline import Pipeline
from retrieval.service import Session, ask
from retrieval.settings import Settings
from retrieval.text.calendar_ar import format_date_ar, parse_date
from retrieval.understand.language import question_language
from retrieval.understand.timeframe import TimeFrame

log = logging.getLogger(__name__)

__all__ = ["BotState"]

MAX_LISTED_SOURCES = 50
LATEST_HEADLINES = 10


@dataclass
class BotState:
    """What the handlers share (kept in ``application.bot_data["state"]``). ``live`` holds the
    pipeline and switches it when a new index is built: a handler takes ``pipeline`` once and
    keeps it for the whole question, so the question ends on the index it started on."""

    settings: Settings
    live: LivePipeline
    store: StateStore
    rate_limit: UserRateLimit
    locks: weakref.WeakValueDictionary = field(default_factory=weakref.WeakValueDictionary)
    _titles: tuple[int, list[str]] | None = None  # (the index generation they come from, its titles)
    _latest: tuple[int, list[tuple[date, DocumentInfo]]] | None = None  # (generation, its newest dated articles)
    purge_task: asyncio.Task | None = None  # the hourly retention purge (bot/telegram.py)

    @property
    def pipeline(self) -> Pipeline:
        return self.live.current()

    @property
    def document_titles(self) -> list[str]:
        """The titles of the index in use (listed again only after a switch)."""
        generation = self.live.generation  # read before the pipeline: a switch between the two lists again next time
        if self._titles is None or self._titles[0] != generation:
            self._titles = (generation, [info.title for info in self.pipeline.documents()])
        return self._titles[1]

    @property
    def latest_articles(self) -> list[tuple[date, DocumentInfo]]:
        """The index's LATEST_HEADLINES newest dated articles, newest first (each date parsed once per index:
        listed again only after a switch). A scan of every article: call it off the event loop."""
        generation = self.live.generation
        if self._latest is None or self._latest[0] != generation:
            dated = [(day, info) for info in self.pipeline.documents() if (day := parse_date(info.date))]
            dated.sort(key=lambda pair: pair[0], reverse=True)  # stable: the index's order within a day
            self._latest = (generation, dated[:LATEST_HEADLINES])
        return self._latest[1]

    def lock_for(self, chat_id: int) -> asyncio.Lock:
        """One lock per chat so that a chat's turns are answered in order."""
        lock = self.locks.get(chat_id)
        if lock is None:
            lock = asyncio.Lock()
            self.locks[chat_id] = lock
        return lock


def _state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.bot_data["state"]


# ---------------------------------------------------------------- helpers


def _is_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


def _addressed(message: Message, bot_id: int, username: str | None) -> bool:
    """A group message is for us if it is a command, a reply to us, or mentions us."""
    if message.text and message.text.startswith("/"):
        return True
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot_id:
        return True
    mention = f"@{username}".lower() if username else None
    for text in message.parse_entities([MessageEntity.MENTION]).values():
        if mention and text.lower() == mention:
            return True
    for entity in message.entities:
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id:
            return True
    return False


async def _send(
    update: Update,
    html_messages: list[str],
    *,
    markup: InlineKeyboardMarkup | None = None,
    quote: bool = False,
) -> None:
    """Send HTML messages to the update's chat; the button goes on the last one."""
    chat = update.effective_chat
    source = update.effective_message
    thread = source.message_thread_id if source is not None and source.is_topic_message else None
    for index, html in enumerate(html_messages):
        reply = None
        if quote and index == 0 and source is not None:
            reply = ReplyParameters(source.message_id, allow_sending_without_reply=True)
        await chat.get_bot().send_message(
            chat.id,
            html,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_parameters=reply,
            message_thread_id=thread,
            reply_markup=markup if index == len(html_messages) - 1 else None,
        )


async def _say(update: Update, text: str) -> None:
    await _send(update, render_telegram_text(text), quote=_is_group(update))


def _hold_back(answer: Answer, vote_key: str | None) -> PendingMore | None:
    """What the "more" button will page through, under a fresh key (None: no button).
    The row keeps neither the excerpts already shown nor the passages: only what is to come."""
    if not answer.more or answer.abstained:
        return None
    kept = answer.model_copy(update={"excerpts": [], "passages": []})
    return PendingMore(key=secrets.token_urlsafe(6), answer=kept, vote_key=vote_key)


def _remember_for_votes(store: StateStore, chat_id: int, answer: Answer) -> str | None:
    """Keep what the answer was under a fresh key for its vote buttons (None: no buttons,
    for a refused question)."""
    if answer.refused is not None:
        return None
    key = secrets.token_urlsafe(9)
    store.save_answer(key, chat_id, answered_record(answer))
    return key


# ---------------------------------------------------------------- handlers


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every handler: drops updates we should not see, refuses strangers once."""
    state = _state(context)
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type == ChatType.CHANNEL:
        raise ApplicationHandlerStop
    message = update.message
    if _is_group(update) and message is not None:
        if not _addressed(message, context.bot.id, context.bot.username):
            raise ApplicationHandlerStop
    if not is_allowed(state.settings, user.id, chat.id):
        log.info("refused chat=%s user=%s", chat.id, user.id)
        if update.callback_query is not None:
            await update.callback_query.answer(messages.NOT_ALLOWED)
        elif update.message is not None and state.store.mark_refused(chat.id):
            await _say(update, messages.NOT_ALLOWED)
        raise ApplicationHandlerStop
    # every update that gets this far counts toward the user's rate limit, whatever answers it (a question,
    # a refused question, small talk, a command, a button); over the limit: one notice per window, then silence
    allowed, warn = state.rate_limit.check(user.id)
    if allowed:
        return
    log.info("rate limited chat=%s user=%s", chat.id, user.id)
    if update.callback_query is not None:  # answered all the same: the button stops spinning
        await update.callback_query.answer(messages.RATE_LIMITED if warn else None)
    elif warn and update.effective_message is not None:
        await _say(update, messages.RATE_LIMITED)
    raise ApplicationHandlerStop


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    state = _state(context)
    count = len(await asyncio.to_thread(lambda: state.document_titles))  # listed once per index, off the loop
    await _say(update, messages.telegram_help(count, context.bot.username, _is_group(update)))


def _sources_messages(titles: list[str]) -> list[str]:
    shown = [shown_title(title) for title in titles[:MAX_LISTED_SOURCES]]
    text = messages.telegram_sources(shown + titles[MAX_LISTED_SOURCES:], MAX_LISTED_SOURCES)
    return render_telegram_text(text, bold_first_line=True)


async def on_sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    state = _state(context)
    html_messages = await asyncio.to_thread(lambda: _sources_messages(state.document_titles))
    await _send(update, html_messages)


async def on_new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/new: the chat's conversation, "more", stored answers (their questions) and votes are deleted; the
    /since period is a setting and stays (the reply says so when one is set)."""
    state = _state(context)
    chat_id = update.effective_chat.id
    async with state.lock_for(chat_id):
        await asyncio.to_thread(state.store.forget, chat_id)
    day = state.store.since(chat_id)
    await _say(update, messages.NEW_CONVERSATION + (f"\n{messages.SINCE_NOW.format(day=day)}" if day else ""))


async def on_since(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/since DATE: answer this chat from articles published on or after DATE; /since off lifts it;
    /since alone says what is set."""
    state = _state(context)
    chat_id = update.effective_chat.id
    value = " ".join(context.args or [])
    if not value:
        day = state.store.since(chat_id)
        await _say(update, messages.SINCE_NOW.format(day=day) if day else messages.SINCE_USAGE)
        return
    parsed = parse_date_command(value[:100], state.pipeline.newest_date())
    if parsed.off:
        state.store.save_since(chat_id, None)
        await _say(update, messages.SINCE_OFF)
        return
    frame = parsed.frame
    if frame is None or frame.start is None:
        await _say(update, messages.SINCE_BAD.format(value=value[:100]))
        return
    state.store.save_since(chat_id, frame.start)
    await _say(update, messages.SINCE_SET.format(day=frame.start))


def _latest_messages(dated: list[tuple[date, DocumentInfo]]) -> list[str]:
    blocks = [Block((Run(messages.LATEST_HEADING, bold=True),))]
    for day, info in dated:
        title = shown_title(info.title, info.source)
        label = f" ({format_date_ar(day)})"
        if is_web_url(info.url):
            blocks.append(Block((Run("• "), Run(title, href=info.url), Run(label))))
        else:
            blocks.append(Block((Run(f"• {title}{label}"),)))
    return pack_reply(blocks)


async def on_latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/latest: the newest dated headlines of the index in use, each with its date (a link
    when the article has a web address). The dates are parsed once per index, off the event loop."""
    state = _state(context)
    dated = await asyncio.to_thread(lambda: state.latest_articles)
    if not dated:
        await _say(update, messages.NO_DATED_ARTICLES)
        return
    await _send(update, await asyncio.to_thread(_latest_messages, dated), quote=_is_group(update))


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    command = parse_command(update.effective_message.text or "", "/")
    target = command.bot if command is not None else ""
    if _is_group(update) and target.lower() != (context.bot.username or "").lower():
        return  # a command for another bot, or for every bot in the group
    await _say(update, messages.UNKNOWN_COMMAND)


async def on_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    state = _state(context)
    message, chat = update.effective_message, update.effective_chat
    question = message.text or ""
    if _is_group(update) and context.bot.username:
        question = re.sub(rf"@{re.escape(context.bot.username)}\b", " ", question, flags=re.I)
    # one pipeline for the whole question, even if a new index is switched in meanwhile
    pipeline = state.pipeline
    async with state.lock_for(chat.id):
        started = time.perf_counter()
        try:
            await chat.send_action(ChatAction.TYPING)
        except TelegramError as error:  # only a courtesy: answer anyway
            log.warning("typing action failed for chat=%s: %s", chat.id, error)
        conversation = state.store.conversation(chat.id)
        since = state.store.since(chat.id)
        session = Session(conversation=conversation, since=TimeFrame(since, None, "", "range") if since else None)
        answer = await asyncio.to_thread(ask, pipeline, question, session)  # the one entry, refusals included
        if answer.refused is not None:  # refused or small talk: the message alone, no buttons, no turn (gate counted it)
            await _say(update, answer.message)
            return
        retrieval_ms = (time.perf_counter() - started) * 1000
        state.store.save_conversation(chat.id, conversation)
        vote_key = _remember_for_votes(state.store, chat.id, answer)
        pending = _hold_back(answer, vote_key)
        state.store.save_pending_more(chat.id, pending)
        markup = answer_markup(vote_key, pending.key if pending else None, answer.language)
        html_messages = await asyncio.to_thread(render_telegram, answer)  # huge text takes time: never on the loop
        await _send(update, html_messages, markup=markup, quote=_is_group(update))
        log.info(
            "answered chat=%s latency_ms=%.0f retrieval_ms=%.0f passages=%d abstained=%s",
            chat.id,
            (time.perf_counter() - started) * 1000,
            retrieval_ms,
            len(answer.passages),
            answer.abstained,
        )


async def on_more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    state = _state(context)
    query = update.callback_query
    chat = update.effective_chat
    key = more_key(query.data)
    async with state.lock_for(chat.id):
        pending = state.store.pending_more(chat.id)
        if pending is None or pending.key != key:
            await on_stale_button(update, context)
            return
        await query.answer()
        page = pending.answer.next_page(state.settings.answer.answer_max_excerpts)
        vote_key = pending.vote_key
        if vote_key and (record := state.store.answered(vote_key, chat.id)) is not None:
            state.store.save_answer(vote_key, chat.id, with_page(record, page))  # the vote is on all it showed
        following = _hold_back(page, vote_key)
        state.store.save_pending_more(chat.id, following)
        await _drop_more_button(query)
        await _send(update, await asyncio.to_thread(render_telegram, page),
                    markup=answer_markup(vote_key, following.key if following else None, page.language))


async def on_vote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A "useful / not useful" button: the vote is stored with the answer it is about (kept
    in the state, so a restart loses nothing); a second vote replaces the first."""
    state = _state(context)
    query, chat, user = update.callback_query, update.effective_chat, update.effective_user
    parsed = parse_vote_data(query.data or "")
    record = state.store.answered(parsed[1]) if parsed is not None else None
    if parsed is None or record is None:
        log.info("vote on an unknown answer chat=%s", chat.id)
        await query.answer(messages.VOTE_FORGOTTEN)
        return
    vote, key = parsed
    if state.store.answer_chat(key) != chat.id:  # a vote counts only from the chat the answer was sent to
        log.info("vote from another chat ignored chat=%s answer=%s", chat.id, key)
        await query.answer(messages.STALE_BUTTON)
        return
    replaced = state.store.save_vote(key, chat.id, user.id, vote, now_iso())
    log.info("vote chat=%s answer=%s vote=%s replaced=%s", chat.id, key, vote, replaced)
    language = question_language(record.question)  # thanked in the language the question was asked in
    if replaced is None:
        await query.answer(word("vote.thanks", language))
    elif replaced == vote:
        await query.answer(word("vote.same", language))
    else:
        await query.answer(word(f"vote.changed.{vote}", language))


async def on_stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer(messages.STALE_BUTTON)
    await _drop_more_button(query)


async def _drop_more_button(query) -> None:
    """Take a used or stale "more" button off its message; the vote buttons stay."""
    if not isinstance(query.message, Message) or query.message.reply_markup is None:
        return
    kept = without_more(query.message.reply_markup)
    if kept == query.message.reply_markup:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=kept)
    except BadRequest as error:  # the message is too old to edit, or has no button any more
        log.debug("could not remove a button: %s", error)


async def on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_chat.type == ChatType.PRIVATE:
        await _say(update, messages.EDITED)


async def on_other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_chat.type == ChatType.PRIVATE:
        await _say(update, messages.TEXT_ONLY)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error (never the user's text nor the token) and apologise once."""
    chat = update.effective_chat if isinstance(update, Update) else None
    update_id = update.update_id if isinstance(update, Update) else None
    log.error(
        "error while handling update %s (chat=%s)",
        update_id,
        chat.id if chat else None,
        exc_info=context.error,
    )
    if chat is None or isinstance(context.error, Forbidden):
        return
    try:
        await chat.send_message(messages.SORRY)
    except TelegramError as error:
        log.warning("could not apologise to chat=%s: %s", chat.id, error)
