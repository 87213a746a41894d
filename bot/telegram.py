"""Telegram front end: ``build_application(settings, pipeline)`` and thin handlers."""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import secrets
import time
import weakref
from dataclasses import dataclass, field

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.render import render_telegram, render_telegram_text
from bot.state import PendingMore, StateStore
from retrieval.models import Answer
from retrieval.pipeline import TOO_LONG, Pipeline
from retrieval.settings import Settings

log = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]{30,}$")
MORE_PREFIX = "more:"
EXAMPLE_QUESTION = "من التقى رشاد؟"

COMMANDS = [
    BotCommand("start", "تعريف بالبوت"),
    BotCommand("help", "كيف تسأل"),
    BotCommand("sources", "المقالات التي أعرفها"),
    BotCommand("new", "محادثة جديدة (نسيان الأسئلة السابقة)"),
]
MORE_BUTTON = "المزيد"
TEXT_ONLY = "أفهم الأسئلة المكتوبة فقط. اكتب سؤالك بالعربية، مثل: " + EXAMPLE_QUESTION
EDITED = "لا أتابع تعديل الرسائل؛ أرسل سؤالك في رسالة جديدة."
EMPTY_QUESTION = "لم أجد في رسالتك كلمات أبحث عنها. اكتب سؤالك بالعربية، مثل: " + EXAMPLE_QUESTION
RATE_LIMITED = "أسئلة كثيرة في وقت قصير. انتظر دقيقة ثم اسأل من جديد."
NOT_ALLOWED = "عذراً، هذا البوت خاص ولا يجيب في هذه المحادثة."
STALE_BUTTON = "انتهت صلاحية هذا الزر. اطرح سؤالك من جديد."
NO_MORE = "لا مزيد من المقتطفات لهذا السؤال."
FORGOTTEN = "بدأنا محادثة جديدة؛ نسيت الأسئلة السابقة."
UNKNOWN_COMMAND = "أمر غير معروف. الأوامر: /help و /sources و /new"
SORRY = "عذراً، حدث خطأ أثناء معالجة رسالتك. حاول مرة أخرى بعد قليل."
MAX_LISTED_SOURCES = 50


class TokenError(ValueError):
    """TELEGRAM_BOT_TOKEN is missing or malformed (the message never contains it)."""


def check_token(settings: Settings) -> str:
    """The bot token from settings, or TokenError saying what is wrong with it."""
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        raise TokenError("TELEGRAM_BOT_TOKEN is not set; put the token from @BotFather in .env")
    token = settings.telegram_bot_token.get_secret_value().strip()
    if not TOKEN_PATTERN.match(token):
        raise TokenError(
            "TELEGRAM_BOT_TOKEN is malformed: expected <digits>:<30+ letters, digits, _ or ->,"
            " as given by @BotFather"
        )
    return token


class RedactSecrets(logging.Filter):
    """Replaces every registered secret (and anything shaped like a bot token) in a log
    record, traceback included, with ``[REDACTED]``."""

    _TOKEN_SHAPE = re.compile(r"\d{5,}(?::|%3A)[A-Za-z0-9_-]{30,}")

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[REDACTED]").replace(
                secret.replace(":", "%3A"), "[REDACTED]"
            )
        return self._TOKEN_SHAPE.sub("[REDACTED]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: let the handler report it
            return True
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


REDACTOR = RedactSecrets()
_factory_installed = False


def install_token_redaction(token: str) -> None:
    """Redact ``token`` from every log record of this process, whichever handler gets it
    (a record factory runs before any handler), and keep httpx (which logs request URLs,
    token included) at WARNING."""
    global _factory_installed
    REDACTOR.secrets.add(token)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    if not _factory_installed:
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            REDACTOR.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
    for handler in logging.getLogger().handlers:
        if REDACTOR not in handler.filters:
            handler.addFilter(REDACTOR)


class UserRateLimit:
    """At most ``per_minute`` questions per user in any 60 s; one warning per window."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._times: dict[int, collections.deque[float]] = {}
        self._warned: dict[int, float] = {}

    def check(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, warn): warn is True for the first refusal in a window only."""
        if self.per_minute <= 0:
            return True, False
        now = self.clock()
        times = self._times.setdefault(user_id, collections.deque())
        while times and now - times[0] >= 60:
            times.popleft()
        if len(times) < self.per_minute:
            times.append(now)
            self._warned.pop(user_id, None)
            return True, False
        warned_at = self._warned.get(user_id)
        if warned_at is not None and now - warned_at < 60:
            return False, False
        self._warned[user_id] = now
        return False, True


@dataclass
class BotState:
    """What the handlers share (kept in ``application.bot_data["state"]``)."""

    settings: Settings
    pipeline: Pipeline
    store: StateStore
    rate_limit: UserRateLimit
    document_titles: list[str]
    locks: weakref.WeakValueDictionary = field(default_factory=weakref.WeakValueDictionary)

    def lock_for(self, chat_id: int) -> asyncio.Lock:
        """One lock per chat so that a chat's turns are answered in order."""
        lock = self.locks.get(chat_id)
        if lock is None:
            lock = asyncio.Lock()
            self.locks[chat_id] = lock
        return lock

    def allowed(self, user_id: int | None, chat_id: int | None) -> bool:
        """Empty lists allow everyone; otherwise a listed user or a listed chat passes."""
        users, chats = self.settings.allowed_user_ids, self.settings.allowed_chat_ids
        if not users and not chats:
            return True
        return (user_id is not None and user_id in users) or (
            chat_id is not None and chat_id in chats
        )


def count_articles(count: int) -> str:
    """"5 مقالات", "12 مقالاً": Arabic number agreement."""
    if count == 1:
        return "مقال واحد"
    if count == 2:
        return "مقالان"
    if 3 <= count % 100 <= 10:
        return f"{count} مقالات"
    return f"{count} مقالاً"


def _state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.bot_data["state"]


def base_urls(base_url: str) -> tuple[str, str]:
    """(API, file) base URLs for PTB from TELEGRAM_BASE_URL (``http://host:port/bot`` or
    ``http://host:port``; ``{token}`` may mark where the token goes)."""
    if "{token}" in base_url:
        return base_url, base_url.replace("/bot{token}", "/file/bot{token}")
    root = base_url.rstrip("/").removesuffix("/bot")
    return root + "/bot", root + "/file/bot"


def build_application(
    settings: Settings, pipeline: Pipeline, *, rate_limit_requests: bool = True
) -> Application:
    """The bot, ready for ``run_polling``/``run_webhook``; raises TokenError before any
    network call when the token is missing or malformed."""
    token = check_token(settings)
    install_token_redaction(token)
    builder = (
        Application.builder()
        .token(token)
        .concurrent_updates(128)
        # PTB's 5 s read/write timeouts are short for a small shared server: a busy CPU (six
        # questions being answered at once on two cores) delays reading Telegram's reply, and a
        # timed-out sendMessage may have been delivered all the same
        .read_timeout(20)
        .write_timeout(20)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.telegram_base_url:
        api_url, file_url = base_urls(settings.telegram_base_url)
        builder = builder.base_url(api_url).base_file_url(file_url)
    if rate_limit_requests:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    application = builder.build()
    application.bot_data["state"] = BotState(
        settings=settings,
        pipeline=pipeline,
        store=StateStore(settings.state_file),
        rate_limit=UserRateLimit(settings.rate_limit_per_minute),
        document_titles=[info.title for info in pipeline.documents()],
    )
    application.add_handler(TypeHandler(Update, _gate), group=-1)
    application.add_handler(CommandHandler(["start", "help"], _on_help))
    application.add_handler(CommandHandler("sources", _on_sources))
    application.add_handler(CommandHandler("new", _on_new))
    application.add_handler(CallbackQueryHandler(_on_more, pattern=f"^{MORE_PREFIX}"))
    application.add_handler(CallbackQueryHandler(_on_stale_button))
    message = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(message & filters.COMMAND, _on_unknown_command))
    application.add_handler(MessageHandler(message & filters.TEXT, _on_question))
    application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, _on_edited))
    application.add_handler(MessageHandler(message, _on_other_message))
    application.add_error_handler(_on_error)
    return application


async def _post_init(application: Application) -> None:
    await application.bot.set_my_commands(COMMANDS)
    state: BotState = application.bot_data["state"]
    log.info("bot @%s ready, %d articles", application.bot.username, len(state.document_titles))


async def _post_shutdown(application: Application) -> None:
    application.bot_data["state"].store.close()


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
    messages: list[str],
    *,
    markup: InlineKeyboardMarkup | None = None,
    quote: bool = False,
) -> None:
    """Send HTML messages to the update's chat; the button goes on the last one."""
    chat = update.effective_chat
    source = update.effective_message
    thread = source.message_thread_id if source is not None and source.is_topic_message else None
    for index, html in enumerate(messages):
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
            reply_markup=markup if index == len(messages) - 1 else None,
        )


async def _say(update: Update, text: str) -> None:
    await _send(update, render_telegram_text(text), quote=_is_group(update))


def _more_markup(key: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(MORE_BUTTON, callback_data=MORE_PREFIX + key)]])


# ---------------------------------------------------------------- handlers


async def _gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every handler: drops updates we should not see, refuses strangers once."""
    state = _state(context)
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type == ChatType.CHANNEL:
        raise ApplicationHandlerStop
    message = update.message
    if _is_group(update) and message is not None:
        if not _addressed(message, context.bot.id, context.bot.username):
            raise ApplicationHandlerStop
    if state.allowed(user.id, chat.id):
        return
    log.info("refused chat=%s user=%s", chat.id, user.id)
    if update.callback_query is not None:
        await update.callback_query.answer(NOT_ALLOWED)
    elif update.message is not None and state.store.mark_refused(chat.id):
        await _say(update, NOT_ALLOWED)
    raise ApplicationHandlerStop


async def _on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    count = len(_state(context).document_titles)
    group_hint = ""
    if _is_group(update) and context.bot.username:
        group_hint = f"\nفي المجموعات: اذكرني (@{context.bot.username}) أو ردّ على رسالتي."
    text = (
        "أجيب عن الأسئلة من مقالات إخبارية عربية"
        f" ({count_articles(count)})، باقتباسات حرفية من المقالات مع أرقام مصادرها.\n"
        f"اكتب سؤالك بالعربية، مثلاً: {EXAMPLE_QUESTION}\n"
        "يمكنك أن تتابع بسؤال قصير مثل: ومتى كان ذلك؟\n"
        "إن لم أجد الجواب في المقالات قلت ذلك ولم أخمّن."
        f"{group_hint}\n\n"
        "/sources المقالات التي أعرفها\n"
        "/new محادثة جديدة\n"
        "/help هذه الرسالة"
    )
    await _say(update, text)


async def _on_sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    titles = _state(context).document_titles
    lines = [f"أعرف {count_articles(len(titles))}:"]
    lines += [f"• {title}" for title in titles[:MAX_LISTED_SOURCES]]
    if len(titles) > MAX_LISTED_SOURCES:
        lines.append(f"… وغيرها ({count_articles(len(titles) - MAX_LISTED_SOURCES)}).")
    await _send(update, render_telegram_text("\n".join(lines), bold_first_line=True))


async def _on_new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    state = _state(context)
    async with state.lock_for(update.effective_chat.id):
        state.store.forget(update.effective_chat.id)
    await _say(update, FORGOTTEN)


async def _on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    command = (update.effective_message.text or "").split(maxsplit=1)[0]
    target = command.partition("@")[2]
    if _is_group(update) and target.lower() != (context.bot.username or "").lower():
        return  # a command for another bot, or for every bot in the group
    await _say(update, UNKNOWN_COMMAND)


async def _on_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    state = _state(context)
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    question = message.text or ""
    if _is_group(update) and context.bot.username:
        question = re.sub(rf"@{re.escape(context.bot.username)}\b", " ", question, flags=re.I)
    question = question.strip()
    if not any(character.isalnum() for character in question):
        await _say(update, EMPTY_QUESTION)
        return
    if len(question) > state.settings.max_question_chars:
        await _say(update, TOO_LONG.format(size=len(question), limit=state.settings.max_question_chars))
        return
    allowed, warn = state.rate_limit.check(user.id)
    if not allowed:
        if warn:
            await _say(update, RATE_LIMITED)
        return
    async with state.lock_for(chat.id):
        started = time.perf_counter()
        try:
            await chat.send_action(ChatAction.TYPING)
        except TelegramError as error:  # only a courtesy: answer anyway
            log.warning("typing action failed for chat=%s: %s", chat.id, error)
        conversation = state.store.conversation(chat.id)
        answer = await asyncio.to_thread(state.pipeline.answer, question, conversation)
        retrieval_ms = (time.perf_counter() - started) * 1000
        state.store.save_conversation(chat.id, conversation)
        pending = _hold_back(answer)
        state.store.save_pending_more(chat.id, pending)
        markup = _more_markup(pending.key) if pending else None
        await _send(update, render_telegram(answer), markup=markup, quote=_is_group(update))
        log.info(
            "answered chat=%s latency_ms=%.0f retrieval_ms=%.0f passages=%d abstained=%s",
            chat.id,
            (time.perf_counter() - started) * 1000,
            retrieval_ms,
            len(answer.passages),
            answer.abstained,
        )


def _hold_back(answer: Answer) -> PendingMore | None:
    if not answer.more or answer.abstained:
        return None
    return PendingMore(
        key=secrets.token_urlsafe(6),
        question=answer.question,
        excerpts=answer.more,
        sources=answer.sources,
    )


async def _on_more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    state = _state(context)
    query = update.callback_query
    chat = update.effective_chat
    key = (query.data or "").removeprefix(MORE_PREFIX)
    async with state.lock_for(chat.id):
        pending = state.store.pending_more(chat.id)
        if pending is None or pending.key != key:
            await _on_stale_button(update, context)
            return
        await query.answer()
        page = max(1, state.settings.answer_max_excerpts)
        shown, rest = pending.excerpts[:page], pending.excerpts[page:]
        following = pending.model_copy(update={"key": secrets.token_urlsafe(6), "excerpts": rest})
        state.store.save_pending_more(chat.id, following if rest else None)
        await _drop_button(query)
        answer = Answer(
            question=pending.question,
            resolved_question=pending.question,
            excerpts=shown,
            sources=pending.sources,
        )
        markup = _more_markup(following.key) if rest else None
        await _send(update, render_telegram(answer), markup=markup)


async def _on_stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer(STALE_BUTTON)
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        await _drop_button(query)


async def _drop_button(query) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as error:  # the message is too old to edit, or has no button any more
        log.debug("could not remove a button: %s", error)


async def _on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_chat.type == ChatType.PRIVATE:
        await _say(update, EDITED)


async def _on_other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_chat.type == ChatType.PRIVATE:
        await _say(update, TEXT_ONLY)


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
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
        await chat.send_message(SORRY)
    except TelegramError as error:
        log.warning("could not apologise to chat=%s: %s", chat.id, error)
