"""Words at the edge: the stages emit message ids with parameters, these catalogs (one per language, the same
ids) word them where the answer is rendered. A wording is reviewed or translated once, in one file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retrieval.answer.catalog import ar, en

CATALOGS: dict[str, Mapping[str, str]] = {"ar": ar.MESSAGES, "en": en.MESSAGES}
LANGUAGES = tuple(CATALOGS)


def word(message_id: str, language: str = "ar", /, **params: Any) -> str:
    """The wording of ``message_id`` in ``language`` (Arabic when that catalog lacks it), ``params`` filled in.
    KeyError for an id no catalog has: a typo in an id fails loudly, never shows a raw id."""
    catalog = CATALOGS.get(language, ar.MESSAGES)
    template = catalog.get(message_id) or ar.MESSAGES[message_id]
    return template.format(**params) if params else template


def corrections_line(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...], language: str) -> str:
    """"صحّحت الإملاء: المخابرت ← المخابرات، ويتكف ← ويتكوف" (empty without corrections)."""
    if not pairs:
        return ""
    arrow, comma = (" → ", ", ") if language == "en" else (" ← ", "، ")
    return word("answer.corrected", language) + comma.join(f"{typed}{arrow}{searched}" for typed, searched in pairs)
