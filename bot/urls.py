"""URL helpers: which links may be sent as links, and where the Bot API lives."""

from __future__ import annotations


def is_web_url(url: str | None) -> bool:
    """True for http(s) links only: a ``file:`` or ``javascript:`` URL from a corpus file is
    never turned into a link."""
    return bool(url) and url.lower().startswith(("http://", "https://"))


def base_urls(base_url: str) -> tuple[str, str]:
    """(API, file) base URLs for PTB from TELEGRAM_BASE_URL (``http://host:port/bot`` or
    ``http://host:port``; ``{token}`` may mark where the token goes)."""
    if "{token}" in base_url:
        return base_url, base_url.replace("/bot{token}", "/file/bot{token}")
    root = base_url.rstrip("/").removesuffix("/bot")
    return root + "/bot", root + "/file/bot"
