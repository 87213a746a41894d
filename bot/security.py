"""What keeps the bot's secrets and its users safe: the token check, redaction of the token (and of
MILVUS_TOKEN and a password in MILVUS_URI) from every log line, library loggers kept from logging the
users' words, and the allow-lists of users and chats."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from retrieval.settings import Settings

TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]{30,}$")


class TokenError(ValueError):
    """TELEGRAM_BOT_TOKEN is missing or malformed (the message never contains it)."""


def check_token(settings: Settings) -> str:
    """The bot token from settings, or TokenError saying what is wrong with it."""
    if settings.telegram.telegram_bot_token is None or not settings.telegram.telegram_bot_token.get_secret_value():
        raise TokenError("TELEGRAM_BOT_TOKEN is not set; put the token from @BotFather in .env")
    token = settings.telegram.telegram_bot_token.get_secret_value().strip()
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
MIN_SECRET_CHARS = 6  # a shorter piece of a secret is not redacted on its own (it would blank ordinary words)
# loggers that log whole updates or requests at DEBUG (PTB: "Processing update Update(message=...text=...)",
# every Bot API call's parameters and result; httpx/httpcore: URLs with the token, bodies): never below these
# levels, whatever --log-level says, so no log line carries a user's words
QUIET_LOGGERS = {"telegram": logging.INFO, "httpx": logging.WARNING, "httpcore": logging.WARNING}


def settings_secrets(settings: Settings) -> set[str]:
    """The secrets of ``settings`` besides the bot token: MILVUS_TOKEN (and its password part when it is
    "user:password") and the password in MILVUS_URI ("http://user:password@host")."""
    found: set[str] = set()
    if settings.backends.milvus_token is not None and (token := settings.backends.milvus_token.get_secret_value().strip()):
        found.add(token)
        found.add(token.partition(":")[2])
    try:
        found.add(urlsplit(str(settings.backends.milvus_uri).strip()).password or "")
    except ValueError:  # not a URL
        pass
    return {secret for secret in found if len(secret) >= MIN_SECRET_CHARS}


def quiet_library_loggers() -> None:
    """Keep the libraries that log update contents at DEBUG at QUIET_LOGGERS' levels or above."""
    for name, floor in QUIET_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logger.level))


def install_token_redaction(token: str, settings: Settings | None = None) -> None:
    """Redact ``token`` (and the secrets of ``settings``: settings_secrets) from every log record of this
    process, whichever handler gets it (a record factory runs before any handler), and keep the libraries
    that would log the token or the users' words quiet (quiet_library_loggers)."""
    global _factory_installed
    REDACTOR.secrets.add(token)
    if settings is not None:
        REDACTOR.secrets.update(settings_secrets(settings))
    quiet_library_loggers()
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


def is_allowed(settings: Settings, user_id: int | None, chat_id: int | None) -> bool:
    """ALLOWED_USER_IDS / ALLOWED_CHAT_IDS: empty lists allow everyone; otherwise a listed
    user, or anyone in a listed chat, passes."""
    users, chats = settings.telegram.allowed_user_ids, settings.telegram.allowed_chat_ids
    if not users and not chats:
        return True
    return (user_id is not None and user_id in users) or (
        chat_id is not None and chat_id in chats
    )
