"""`python -m bot`: run the Telegram bot (long polling, or a webhook when configured);
`python -m bot --export-feedback FILE`: write the users' votes as a JSON Lines evaluation file."""

from __future__ import annotations

import argparse
import hashlib
import logging
import sqlite3
import sys
from pathlib import Path
from urllib.parse import urlparse

from pydantic import ValidationError

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Answer questions about the indexed Arabic news articles on Telegram.",
        epilog=(
            "example: TELEGRAM_BOT_TOKEN=123456:ABC... python -m bot\n"
            "Settings come from the environment or .env (TELEGRAM_BOT_TOKEN, INDEX_DIR,"
            " TELEGRAM_WEBHOOK_URL, ALLOWED_USER_IDS, ...)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level on stderr (default INFO)",
    )
    parser.add_argument(
        "--export-feedback", metavar="FILE", type=Path,
        help="write the users' votes on answers (from STATE_FILE) to FILE as JSON Lines, one QA item to"
             " review per vote (README: Feedback), and exit; needs no token",
    )
    return parser


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _without_rejected_token_traceback(record: logging.LogRecord) -> bool:
    """PTB logs a rejected token with a traceback; main() reports it in one line instead."""
    from telegram.error import InvalidToken

    return not (record.exc_info and isinstance(record.exc_info[1], InvalidToken))


def _export_feedback(state_file: Path, path: Path) -> int:
    """Write the votes kept in ``state_file`` to ``path``; 1 when either cannot be used."""
    from bot.feedback import export_feedback
    from bot.state import StateStore

    if not state_file.is_file():  # opening would create an empty state: a wrong STATE_FILE would go unnoticed
        _error(f"no bot state at {state_file} (STATE_FILE): the bot has not run with it, so there are no votes")
        return 1
    try:
        store = StateStore(state_file, repair=False)  # a damaged file is reported here, never moved aside
    except (OSError, sqlite3.Error) as error:
        _error(f"cannot read the bot state at {state_file}: {error}")
        return 1
    try:
        votes, to_review = export_feedback(store, path)
    except sqlite3.Error as error:
        _error(f"cannot read the votes in {state_file}: {error}")
        return 1
    except OSError as error:
        _error(f"cannot write {path}: {error.strerror or error}")
        return 1
    finally:
        store.close()
    print(f"wrote {votes} vote(s) to {path} ({to_review} not useful, marked review: true)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the bot until interrupted; 2 for bad configuration, 1 for other expected errors."""
    args = _parser().parse_args(argv)
    from retrieval.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{str(item['loc'][-1]).upper() if item['loc'] else 'SETTINGS'}: {item['msg']}"  # the key's flat name (TOP_K)
            for item in error.errors()
        )
        _error(f"invalid settings: {problems}")
        return EXIT_CONFIG
    if args.export_feedback is not None:
        return _export_feedback(settings.telegram.state_file, args.export_feedback)

    # Telegram and the index are imported only after the settings and the token are known to be usable.
    from bot.security import REDACTOR, TokenError, check_token, install_token_redaction

    try:
        token = check_token(settings)
    except TokenError as error:
        _error(str(error))
        return EXIT_CONFIG

    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_token_redaction(token, settings)  # MILVUS_TOKEN too, before the index (maybe on Milvus) loads
    for handler in logging.getLogger().handlers:
        handler.addFilter(_without_rejected_token_traceback)

    from bot.texts import EXAMPLE_QUESTION
    from retrieval.errors import RetrievalError, UnknownBackend
    from retrieval.live import LivePipeline
    from retrieval.understand.checks import check_mode

    try:  # before the index loads: a bad MODE is bad configuration, like a bad token
        check_mode(settings.search.mode)
    except UnknownBackend as error:
        _error(f"invalid settings: MODE: {error}")
        return EXIT_CONFIG
    try:
        pipeline = LivePipeline.load(settings)  # follows the index: a new build is switched in while running
        pipeline.current().answer(EXAMPLE_QUESTION)  # warm up (lazy model parts) before the first user waits
    except RetrievalError as error:
        _error(REDACTOR.redact(str(error)))
        return 1

    from telegram import Update
    from telegram.error import InvalidToken, TelegramError

    from bot.telegram import build_application

    application = build_application(settings, pipeline)
    updates = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
    try:
        if settings.telegram.telegram_webhook_url:
            application.run_webhook(
                listen=settings.telegram.telegram_webhook_listen,
                port=settings.telegram.telegram_webhook_port,
                url_path=urlparse(settings.telegram.telegram_webhook_url).path.lstrip("/"),
                webhook_url=settings.telegram.telegram_webhook_url,
                secret_token=hashlib.sha256(token.encode()).hexdigest()[:32],
                allowed_updates=updates,
            )
        else:
            application.run_polling(allowed_updates=updates)
    except InvalidToken:
        _error("Telegram rejected TELEGRAM_BOT_TOKEN (Unauthorized); check it with @BotFather")
        return 1
    except TelegramError as error:
        _error(f"Telegram: {REDACTOR.redact(str(error))}")
        return 1
    except RuntimeError as error:  # e.g. webhook mode without the python-telegram-bot[webhooks] extra
        _error(REDACTOR.redact(str(error)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
