"""Arabic calendar words: month names, weekday names, digits, and dates written the Arabic way.

Stable API (other modules import it; extend, do not rename):

- ``MONTHS_LEVANTINE`` / ``MONTHS_EGYPTIAN``: the canonical name of each month, index 1..12
  (index 0 is ""). Levantine/Syriac (كانون الثاني ...) and Egyptian/Western (يناير ...).
- ``MONTH_VARIANTS``: every accepted spelling -> month number (1..12): both families, with and
  without hamza (أبريل/ابريل/إبريل), the short forms (تشرين أول, كانون ثاني), يونيه/يوليه, and the
  unambiguous Maghrebi forms (يوليوز، غشت، شتنبر، نونبر، دجنبر).
- ``WEEKDAYS``: the canonical weekday names indexed like ``date.weekday()`` (0 = الاثنين, Monday).
- ``WEEKDAY_VARIANTS``: spelling -> ``date.weekday()`` number (الإثنين/الاثنين/الأثنين, الأحد/الاحد,
  الأربعاء/الاربعاء, ...). Only the bare day names: a "يوم" before them is the caller's business.
- ``to_western_digits(text)``: Arabic-Indic (٠-٩) and Persian (۰-۹) digits -> 0-9; length-preserving.
- ``fold(text)``: a length-preserving spelling fold (hamza seats -> ا, ى -> ي, ة -> ه, digits ->
  0-9) so a match found in the folded text has the same offsets in the original.
- ``month_number(word)`` / ``weekday_number(word)``: a single name (any accepted spelling, an
  optional proclitic و/ب/ل/ف, e.g. "وآذار", "بمارس") -> its number, or None.
- ``MONTH_PATTERN`` / ``WEEKDAY_PATTERN``: regular expressions over ``fold(text)`` (named group
  ``name``), with word boundaries; ``find_months(text)`` / ``find_weekdays(text)`` yield
  ``(start, end, number)`` with offsets into the original text.
- ``parse_date(value)``: a publication date as people and sites write it -> ``date`` or None:
  ISO "2018-03-06" (a time and zone after it are ignored: the date the publisher wrote is kept),
  "2018/03/06", "06/03/2018" (day first), "6 مارس 2018" / "٦ آذار ٢٠١٨" / "6 March 2018".
- ``format_date_ar(day)``: ``date(2018, 3, 6)`` -> "6 مارس 2018" (Egyptian month names, Western
  digits: the form the Arabic press and the bot's answers use); ``style="levantine"`` gives
  "6 آذار 2018"; ``format_date(day, "en")``: "6 March 2018" (an answer to a question asked in English).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime

MONTHS_LEVANTINE = (
    "", "كانون الثاني", "شباط", "آذار", "نيسان", "أيار", "حزيران",
    "تموز", "آب", "أيلول", "تشرين الأول", "تشرين الثاني", "كانون الأول",
)
MONTHS_EGYPTIAN = (
    "", "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
    "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
)
# Beyond the canonical names: spellings seen in the press. "ماي"/"جوان"/"أوت" (Maghrebi) are left
# out on purpose: they are also ordinary words or names and would make false dates.
_EXTRA_MONTHS = {
    1: ("كانون ثاني", "جانفي"),
    2: ("فبرایر", "فيفري"),
    4: ("ابريل", "إبريل", "أفريل", "افريل"),
    5: ("مايّو",),
    6: ("يونيه",),
    7: ("يوليه", "يوليوز", "جويلية"),
    8: ("اغسطس", "أغسطُس", "غشت"),
    9: ("شتنبر",),
    10: ("تشرين أول", "اكتوبر"),
    11: ("تشرين ثاني", "نونبر"),
    12: ("كانون أول", "دجنبر"),
}

# date.weekday() order: Monday first
WEEKDAYS = ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")
_EXTRA_WEEKDAYS = {
    0: ("الإثنين", "الأثنين", "الاتنين"),
    1: ("الثلاثا", "الثلثاء"),
    2: ("الاربعاء", "الأربعا", "الاربعا"),
    4: ("الجمعه",),
    6: ("الاحد",),
}

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_FOLD = str.maketrans({
    **{c: "ا" for c in "أإآٱ"}, "ى": "ي", "ة": "ه", "ؤ": "و",
    **{a: w for a, w in zip("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")},
})
_TASHKEEL = re.compile("[\u064b-\u0652\u0670\u0640]")


def to_western_digits(text: str) -> str:
    """Arabic-Indic and Persian digits -> ASCII digits (same length)."""
    return text.translate(_DIGITS)


def fold(text: str) -> str:
    """A length-preserving fold of spelling variants (hamza seats, ى, ة, digits)."""
    return text.translate(_FOLD)


def _key(name: str) -> str:
    return " ".join(fold(_TASHKEEL.sub("", name)).split())


MONTH_VARIANTS: dict[str, int] = {}
for _number in range(1, 13):
    for _name in (MONTHS_LEVANTINE[_number], MONTHS_EGYPTIAN[_number], *_EXTRA_MONTHS.get(_number, ())):
        MONTH_VARIANTS[_name] = _number
WEEKDAY_VARIANTS: dict[str, int] = {}
for _number, _name in enumerate(WEEKDAYS):
    for _spelling in (_name, *_EXTRA_WEEKDAYS.get(_number, ())):
        WEEKDAY_VARIANTS[_spelling] = _number

_MONTH_KEYS = {_key(name): number for name, number in MONTH_VARIANTS.items()}
_WEEKDAY_KEYS = {_key(name): number for name, number in WEEKDAY_VARIANTS.items()}


def _alternation(keys) -> str:
    # longest first, so "تشرين الثاني" wins over a shorter overlap; a space may be any run of spaces
    return "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in sorted(keys, key=len, reverse=True))


# (?<!\w) ... (?!\w): a whole word, with at most one proclitic (و ب ل ف) glued before it
MONTH_PATTERN = re.compile(rf"(?<!\w)[وبلف]?(?P<name>{_alternation(_MONTH_KEYS)})(?!\w)")
WEEKDAY_PATTERN = re.compile(rf"(?<!\w)[وبلف]?(?P<name>{_alternation(_WEEKDAY_KEYS)})(?!\w)")


def _lookup(word: str, keys: dict[str, int]) -> int | None:
    key = _key(word)
    if key in keys:
        return keys[key]
    if len(key) > 2 and key[0] in "وبلف" and key[1:] in keys:
        return keys[key[1:]]
    return None


def month_number(word: str) -> int | None:
    """The month (1..12) a name stands for, in any accepted spelling, or None."""
    return _lookup(word, _MONTH_KEYS)


def weekday_number(word: str) -> int | None:
    """The ``date.weekday()`` number (0 = Monday) a day name stands for, or None."""
    return _lookup(word, _WEEKDAY_KEYS)


def _find(pattern: re.Pattern, keys: dict[str, int], text: str) -> Iterator[tuple[int, int, int]]:
    for match in pattern.finditer(fold(text)):
        yield match.start("name"), match.end("name"), keys[" ".join(match["name"].split())]


def find_months(text: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, month) of each month name in ``text``; offsets into ``text`` itself."""
    return _find(MONTH_PATTERN, _MONTH_KEYS, text)


def find_weekdays(text: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, weekday) of each day name in ``text``; weekday as ``date.weekday()``."""
    return _find(WEEKDAY_PATTERN, _WEEKDAY_KEYS, text)


_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:$|[T\s])")
_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_WORDS = re.compile(r"(\d{1,2})\s+(?:من\s+)?(?:شهر\s+)?(\D+?)\s*(?:/\s*\D+?\s*)?،?\s+(\d{4})$")
MONTHS_ENGLISH = ("", "January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December")
_ENGLISH_MONTHS = {name.lower(): number for number, name in enumerate(MONTHS_ENGLISH) if name}
_ENGLISH_MONTHS.update({name[:3]: number for name, number in list(_ENGLISH_MONTHS.items())})
_ENGLISH_MONTHS["sept"] = 9


def parse_date(value: object) -> date | None:
    """A date written as ISO, y/m/d, d/m/y or "6 مارس 2018" (Arabic or English month) -> ``date``;
    None when it is not a real calendar date (or a year outside 1800-2200)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = " ".join(to_western_digits(value).split())
    match = _ISO.match(text + " ")
    if match:
        year, month, day = (int(g) for g in match.groups())
    elif match := _DMY.match(text):
        day, month, year = (int(g) for g in match.groups())
    elif match := _WORDS.match(text):
        name = match[2].strip()
        month = month_number(name) or _ENGLISH_MONTHS.get(name.lower().rstrip("."), 0)
        day, year = int(match[1]), int(match[3])
    else:
        return None
    if not 1800 <= year <= 2200:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def format_date_ar(day: date | datetime, style: str = "egyptian") -> str:
    """``date(2018, 3, 6)`` -> "6 مارس 2018" ("6 آذار 2018" with ``style="levantine"``)."""
    names = MONTHS_LEVANTINE if style == "levantine" else MONTHS_EGYPTIAN
    return f"{day.day} {names[day.month]} {day.year}"


def format_date(day: date | datetime, language: str = "ar") -> str:
    """A date for an answer in ``language``: "6 مارس 2018", or "6 March 2018" for "en"."""
    return f"{day.day} {MONTHS_ENGLISH[day.month]} {day.year}" if language == "en" else format_date_ar(day)
