"""URL helpers: which links may be sent as links, how an address is cleaned before it becomes an
``href``, and where the Bot API lives."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

MAX_HREF_CHARS = 2048  # a longer address is not sent as a link (the text stays)
# controls (C0, DEL, C1), whitespace of any script, the invisible marks that reorder or hide text, and the
# characters a URL may not hold raw that would close an HTML attribute or tag ("<>) or confuse a parser (\`)
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f-\x9f\s\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\"<>\\`]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_HOST = re.compile(r"[\w.:-]+")  # a name (IDN letters too), IPv4, or IPv6 (urlsplit drops the brackets)


def is_web_url(url: str | None) -> bool:
    """True for http(s) links only: a ``file:`` or ``javascript:`` URL from a corpus file is
    never turned into a link."""
    return bool(url) and url.lower().startswith(("http://", "https://"))


def web_href(url: str | None) -> str | None:
    """``url`` made safe for an ``href``: http(s) with a host only, surrounding whitespace stripped,
    controls, whitespace and invisible marks inside percent-encoded (never sent raw), lone surrogates
    dropped; None when it is not such a link (the text is then shown without a link). The caller
    still HTML-escapes the attribute."""
    if not url:
        return None
    url = _SURROGATE.sub("", url).strip()
    if not is_web_url(url):
        return None
    url = _UNSAFE_IN_URL.sub(lambda match: quote(match.group(), safe=""), url)
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. a malformed IPv6 literal
        return None
    if not host or not _HOST.fullmatch(host) or len(url) > MAX_HREF_CHARS:
        return None
    return url


def base_urls(base_url: str) -> tuple[str, str]:
    """(API, file) base URLs for PTB from TELEGRAM_BASE_URL (``http://host:port/bot`` or
    ``http://host:port``; ``{token}`` may mark where the token goes)."""
    if "{token}" in base_url:
        return base_url, base_url.replace("/bot{token}", "/file/bot{token}")
    root = base_url.rstrip("/").removesuffix("/bot")
    return root + "/bot", root + "/file/bot"
