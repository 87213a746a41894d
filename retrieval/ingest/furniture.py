"""Site furniture out of article text: lines a page carries around every article ("related
articles", "back to top", advertisement markers, share/print/follow-us lines, app notices,
separator rules), so they are never indexed nor quoted as news.

Two rules, both by whole line, so every sentence of the body is kept as it was:
- ``is_furniture_line``: a known furniture phrase (the line *is* the phrase, or starts with a
  link-list marker such as "للمزيد:"), or a line without a single letter or digit ("-----").
- ``RepeatedLines``: within one source (a JSON Lines ``source`` field, else the folder), a short
  line found in at least ``REPEAT_MIN_DOCS`` different articles is a site line (BBC Arabic's
  app notice sits under 850 of its 3,814 articles in ANT). Identical articles count once, so a
  story published twice keeps its lead. Body sentences that recur (a background paragraph
  reused by a news desk) are longer than ``REPEAT_MAX_CHARS`` or rarer than the threshold:
  measured on ANT, the most repeated such sentence appears in 10 articles.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict

from retrieval.text.arabic import normalize

REPEAT_MIN_DOCS = 20  # articles of one source a line must appear in to count as the site's own
REPEAT_MAX_CHARS = 160  # longer lines are prose: a reused paragraph is content, not furniture

# Whole-line phrases (compared after normalize(), so hamza, ta marbuta and tashkeel do not matter;
# trailing punctuation and a leading "*" are ignored).
_PHRASES = [
    "مقالات ذات صلة", "مواضيع ذات صلة", "أخبار ذات صلة", "اخبار متعلقة", "مقالات مقترحة", "قد يهمك أيضا",
    "قد يعجبك أيضا", "اقرأ أيضا", "إقرأ أيضا", "اقرأ المزيد", "المزيد من الأخبار", "الأكثر قراءة",
    "زر الذهاب إلى الأعلى", "العودة إلى الأعلى", "الرجوع للأعلى", "إلى الأعلى",
    "إعلان", "إعلانات", "advertisement", "ads", "sponsored", "محتوى مدفوع",
    "شارك", "شارك المقال", "شارك الخبر", "شارك هذا المقال", "شارك على فيسبوك", "مشاركة", "طباعة",
    "اطبع", "أرسل لصديق", "print", "share", "share this", "email", "tweet",
    "تابعونا", "تابعنا", "تابعونا على", "تابعنا على", "تابعونا على تويتر", "تابعونا على فيسبوك",
    "follow us", "جميع الحقوق محفوظة", "all rights reserved", "اشترك في النشرة البريدية",
    "اشترك في نشرتنا", "اضغط هنا", "انقر هنا", "المزيد", "تعليقات", "أضف تعليقا", "اترك تعليقا",
    "الوسوم", "كلمات مفتاحية", "tags", "skip to content", "menu", "القائمة",
]
# Lines of social network names only ("Facebook Twitter WhatsApp", "فيسبوك تويتر واتساب")
_SOCIAL = {
    "facebook", "twitter", "whatsapp", "telegram", "linkedin", "pinterest", "reddit", "email", "print",
    "messenger", "x", "فيسبوك", "فيس", "بوك", "تويتر", "واتساب", "واتس", "اب", "تيليجرام", "تلغرام", "لينكدان",
    "انستغرام", "انستجرام", "يوتيوب", "طباعه", "ايميل", "البريد", "الالكتروني", "مشاركه", "شارك", "عبر",
}
# A line that starts with one of these is a link to another article ("للمزيد: ..."), not text.
_PREFIXES = ("للمزيد:", "للمزيد -", "للمزيد-", "اقرأ أيضا:", "اقرأ أيضاً:", "إقرأ أيضا:", "اقرا ايضا:",
             "اقرأ المزيد:", "شاهد أيضا:", "شاهد أيضاً:", "شاهد:", "اقرأ:", "read more:", "related:")

_EDGES = re.compile(r"^[\s*•·|»«>\-–—_:©®]+|[\s.:!…|»«<\-–—_،,©®]+$")
_HAS_WORD = re.compile(r"[^\W_]")


def _key(line: str) -> str:
    return normalize(_EDGES.sub("", line)).lower()


_PHRASE_KEYS = {_key(p) for p in _PHRASES}
_PREFIX_KEYS = tuple(normalize(p).lower() for p in _PREFIXES)
_PREFIX_CHARS = 2 * max(len(p) for p in _PREFIXES)  # tashkeel and spaces may lengthen a prefix as written
_PHRASE_CHARS = 100


def is_furniture_line(line: str) -> bool:
    """Whether one line, on its own, is site furniture (a known phrase or no word at all)."""
    stripped = line.strip()
    if not stripped:
        return False  # blank lines are layout, kept as they are
    if not _HAS_WORD.search(stripped):
        return True  # "-----", "×××", "* * *"
    if normalize(stripped[:_PREFIX_CHARS]).lower().startswith(_PREFIX_KEYS):
        return True
    if len(stripped) > _PHRASE_CHARS:
        return False  # prose: no phrase or list of networks is this long (and normalising it is slow)
    key = _key(stripped)
    if key in _PHRASE_KEYS:
        return True
    words = re.findall(r"[^\W_]+", key)
    return bool(words) and len(words) <= 8 and all(word in _SOCIAL for word in words)


def line_key(line: str) -> str:
    """What two lines must share to be "the same line" for the repeat rule: spaces folded, the
    closing full stop ignored (BBC's app notice comes with and without one)."""
    return " ".join(line.split()).rstrip(".。…!؛;،, ")


class RepeatedLines:
    """Counts, per source, in how many distinct articles each short line appears; then tells
    which lines are the site's own (``REPEAT_MIN_DOCS`` articles or more)."""

    def __init__(self, min_docs: int = REPEAT_MIN_DOCS, max_chars: int = REPEAT_MAX_CHARS) -> None:
        self.min_docs = min_docs
        self.max_chars = max_chars
        self._counts: dict[str, Counter[str]] = defaultdict(Counter)
        self._seen_texts: set[bytes] = set()

    def add(self, group: str, text: str) -> None:
        """Count the lines of one article of ``group`` (a repeated identical article counts once)."""
        digest = hashlib.blake2b(f"{group}\x00{text}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if digest in self._seen_texts:
            return
        self._seen_texts.add(digest)
        # a line longer than 2 x max_chars cannot fold to max_chars (only runs of spaces shrink)
        keys = {line_key(line) for line in text.split("\n") if len(line) <= 2 * self.max_chars}
        self._counts[group].update(key for key in keys if key and len(key) <= self.max_chars)

    def is_repeated(self, group: str, line: str) -> bool:
        counts = self._counts.get(group)
        if not counts or len(line) > 2 * self.max_chars:
            return False
        return counts.get(line_key(line), 0) >= self.min_docs

    def repeated(self, group: str) -> list[tuple[str, int]]:
        """The lines of ``group`` taken as furniture, most frequent first (for reports and tests)."""
        counts = self._counts.get(group, Counter())
        return [(line, n) for line, n in counts.most_common() if n >= self.min_docs]


def strip_furniture(text: str, group: str | None = None, repeats: RepeatedLines | None = None) -> tuple[str, int]:
    """``text`` without its furniture lines, and how many lines were removed. Other lines are
    kept byte for byte; blank lines left doubled by a removal are collapsed, and the text's
    leading and trailing blank space is dropped."""
    kept: list[str] = []
    removed = 0
    for line in text.split("\n"):  # "\n" only: a lone "\r" or U+2028 inside a line is the article's own
        if is_furniture_line(line) or (repeats is not None and group is not None and line.strip()
                                       and repeats.is_repeated(group, line)):
            removed += 1
            continue
        kept.append(line)
    if not removed:
        return text, 0
    out: list[str] = []
    for line in kept:
        if not line.strip() and out and not out[-1].strip():
            continue  # the blank line around a removed one: keep a single paragraph break
        out.append(line)
    return "\n".join(out).strip(), removed
