"""The Telegram application: ``build_application(settings, pipeline)`` wires the handlers
(bot/handlers.py) to python-telegram-bot; the token is checked and redacted first."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import handlers
from bot.commands import MORE_PREFIX, NEW, SINCE
from bot.feedback import VOTE_PREFIX
from bot.handlers import BotState
from bot.rate_limit import UserRateLimit
from bot.security import check_token, install_token_redaction
from bot.state import Retention, StateStore
from bot.texts import COMMAND_DESCRIPTIONS
from bot.urls import base_urls
from retrieval.live import LivePipeline
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

log = logging.getLogger(__name__)

PURGE_SECONDS = 3600.0  # expired state rows are deleted at start, then this often (docs/privacy.md)
COMMANDS = [BotCommand(command, description) for command, description in COMMAND_DESCRIPTIONS.items()]


def build_application(
    settings: Settings, pipeline: Pipeline | LivePipeline, *, rate_limit_requests: bool = True
) -> Application:
    """The bot, ready for ``run_polling``/``run_webhook``; raises TokenError before any
    network call when the token is missing or malformed. Given a ``LivePipeline`` that follows
    its index, the bot polls the index every INDEX_POLL_SECONDS and switches to a new build
    while running; a plain pipeline is served as it is."""
    token = check_token(settings)
    install_token_redaction(token, settings)
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
    if settings.telegram.telegram_base_url:
        api_url, file_url = base_urls(settings.telegram.telegram_base_url)
        builder = builder.base_url(api_url).base_file_url(file_url)
    if rate_limit_requests:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    application = builder.build()
    live = pipeline if isinstance(pipeline, LivePipeline) else LivePipeline(pipeline)
    application.bot_data["state"] = BotState(
        settings=settings,
        live=live,
        store=StateStore(settings.telegram.state_file, retention=Retention.from_settings(settings)),  # purged once here
        rate_limit=UserRateLimit(settings.telegram.rate_limit_per_minute),
    )
    application.add_handler(TypeHandler(Update, handlers.gate), group=-1)
    application.add_handler(CommandHandler(["start", "help"], handlers.on_help))
    application.add_handler(CommandHandler("sources", handlers.on_sources))
    application.add_handler(CommandHandler(NEW, handlers.on_new))  # the names bot/commands.py reads for both front ends
    application.add_handler(CommandHandler(SINCE, handlers.on_since))
    application.add_handler(CommandHandler("latest", handlers.on_latest))
    application.add_handler(CallbackQueryHandler(handlers.on_more, pattern=f"^{MORE_PREFIX}"))
    application.add_handler(CallbackQueryHandler(handlers.on_vote, pattern=f"^{VOTE_PREFIX}"))
    application.add_handler(CallbackQueryHandler(handlers.on_stale_button))
    message = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(message & filters.COMMAND, handlers.on_unknown_command))
    application.add_handler(MessageHandler(message & filters.TEXT, handlers.on_question))
    application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, handlers.on_edited))
    application.add_handler(MessageHandler(message, handlers.on_other_message))
    application.add_error_handler(handlers.on_error)
    return application


async def _post_init(application: Application) -> None:
    await application.bot.set_my_commands(COMMANDS)
    state: BotState = application.bot_data["state"]
    titles = await asyncio.to_thread(lambda: state.document_titles)
    log.info("bot @%s ready, %d articles", application.bot.username, len(titles))
    state.purge_task = asyncio.create_task(_purge_periodically(state), name="state-purge")
    if state.live.follows_index and state.settings.index.index_poll_seconds > 0:
        state.live.start_polling(state.settings.index.index_poll_seconds)
        log.info("following the index at %s (checked every %g s)", state.settings.index.index_dir,
                 state.settings.index.index_poll_seconds)


async def _purge_periodically(state: BotState) -> None:
    """Delete the state rows past their retention every PURGE_SECONDS (off the event loop)."""
    while True:
        await asyncio.sleep(PURGE_SECONDS)
        try:
            await asyncio.to_thread(state.store.purge)
        except sqlite3.Error as error:  # tried again next time; answering goes on
            log.warning("could not delete expired rows from the bot state: %s", error)


async def _post_shutdown(application: Application) -> None:
    state: BotState = application.bot_data["state"]
    if state.purge_task is not None:
        state.purge_task.cancel()
        await asyncio.gather(state.purge_task, return_exceptions=True)
    state.live.stop_polling()
    state.store.close()
