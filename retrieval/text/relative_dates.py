"""Relative dates in an excerpt ("اليوم الثلاثاء", "أمس", "غدا", "يوم الاثنين المقبل", "قبل ٣ أيام")
resolved against the article's publication date, so a reader knows which Tuesday is meant.

``resolve(text, published)`` returns ``DateNote``s: the phrase's span in ``text`` (the quote is
never changed; front ends show the date beside it) and the absolute date. The rules:
- اليوم / الليلة -> the publication date (or the day before or after it when a weekday named with
  it says so: "اليوم الثلاثاء" in an article dated Wednesday is the Tuesday); أمس / البارحة / الليلة الماضية -> the day before;
  أول أمس / أمس الأول -> two days before; غدا / يوم غد -> the day after; بعد غد -> two days after.
- A weekday names the most recent such day on or before the publication date ("الثلاثاء" in an
  article of Tuesday 6 March 2018 is that very day); with "الماضي" the one before it (strictly
  before the publication date); with "المقبل"/"القادم", or in a clause that speaks of the
  future (سوف, من المقرر, سـ + verb ...), the next one (strictly after; on the day itself when
  the clause is in the future).
- "قبل|منذ N أيام" -> N days before, "بعد N أيام" -> N days after (Arabic-Indic digits, يومين).
- A weekday followed by a day number ("الثلاثاء 6 مارس") is dated by the text itself: left alone.
- "اليوم" is a date only when it is not part of a name or another phrase: "اليوم التالي"
  (the next day), "اليوم العالمي", "اليوم السابع" (a newspaper) are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from retrieval.text.calendar_ar import WEEKDAY_PATTERN, fold, format_date_ar, parse_date, to_western_digits, weekday_number


@dataclass(frozen=True)
class DateNote:
    """One relative date found in a text: ``text[start:end] == phrase``; ``date`` is ISO."""

    start: int
    end: int
    phrase: str
    date: str

    @property
    def label(self) -> str:
        """How it is shown beside the quote: "اليوم الثلاثاء (6 مارس 2018)"."""
        return f"{self.phrase} ({format_date_ar(date.fromisoformat(self.date))})"


_W = r"(?<!\w)"  # the start of a word
_END = r"(?!\w)"
_P = r"[وفب]?"  # a proclitic glued before the phrase ("وأمس", "فاليوم"); kept outside the span
_WEEKDAY = WEEKDAY_PATTERN.pattern.replace("(?<!\\w)[وبلف]?", "").replace("(?P<name>", "(?:")
_PART_OF_DAY = r"(?:صباح|مساء|ظهر|فجر|ليله)"

# Patterns over fold(text) (hamza seats, ى, ة, digits folded; same offsets). Longer phrases
# first: a span already taken is not matched again ("أمس الأربعاء" is one date, not two).
_RULES: list[tuple[str, re.Pattern]] = [(kind, re.compile(pattern)) for kind, pattern in (
    ("-2", rf"{_W}{_P}(?:اول\s+(?:من\s+)?امس|امس\s+الاول){_END}"),
    ("+2", rf"{_W}{_P}بعد\s+(?:غد|الغد){_END}"),
    ("-1", rf"{_W}{_P}(?:الليله\s+الماضيه|البارحه|(?:(?:يوم|{_PART_OF_DAY})\s+)?(?:امس|الامس))"
           rf"(?:\s+(?P<wd>{_WEEKDAY}))?{_END}"),
    ("+1", rf"{_W}{_P}(?:(?:يوم|{_PART_OF_DAY})\s+(?:غد|الغد)|غداً|غدًا|غدا)(?:\s+(?P<wd>{_WEEKDAY}))?{_END}"),
    ("0", rf"{_W}{_P}(?:{_PART_OF_DAY}\s+)?(?:اليوم|الليله)(?:\s+(?P<wd>{_WEEKDAY}))?{_END}"),
    ("days", rf"{_W}{_P}(?P<dir>قبل|منذ|بعد)\s+(?:(?P<n>\d{{1,2}})\s+(?:ايام|يوما|يوم)|(?P<two>يومين)){_END}"),
    # not a weekday the text dates itself ("الثلاثاء 6 مارس", "الأحد الموافق ٤ ..."): nothing to add, maybe a clash
    ("weekday", rf"{_W}{_P}(?:يوم\s+)?(?P<wd>{_WEEKDAY})(?:\s+(?P<rel>الماضي|المقبل|القادم|المنصرم|الفائت))?{_END}"
                r"(?![\s،,]*(?:الموافق\s+)?\d)"),
)]
_PROCLITIC_BEFORE = re.compile(r"[وفب](?=ال|امس|اول|بعد|غد|يوم|قبل|منذ|صباح|مساء|ظهر|فجر|ليله)")

# "اليوم" that is not today: "اليوم التالي/الأول/العالمي/السابع", "اليوم نفسه", "ذلك اليوم", "نفس اليوم"
_NOT_TODAY_AFTER = re.compile(r"[ \t]+(?:ال\w+|نفسه|ذاته)")
_NOT_TODAY_BEFORE = re.compile(r"(?<!\w)(?:ذلك|تلك|نفس|ذات|هذا\s+ال\w+\s+من)\s+$")
# "الاثنين" is also "the two": not a Monday after "بين/كلا/هذين" or before "معا"
_TWO_BEFORE = re.compile(r"(?<!\w)(?:بين|كلا|كلتا|هذين|هذان|هاتين)\s+$")
_TWO_AFTER = re.compile(r"\s+معا")
# A clause about the future, just before a weekday: "سيلتقي ... الأربعاء", "من المقرر أن ... الخميس".
# سـ + a verb cannot be told from a noun without a lexicon: the common nouns that look like one are excluded.
_FUTURE = re.compile(r"[وف]?(?:سوف|المقرر|المرتقب|المتوقع|يعتزم|تعتزم|يزمع|تزمع|س[يتنا]\w{3,})")
_FUTURE_NOUNS = re.compile(r"[وف]?(?:سي(?:اس|ار|طر|د|ن|ول|ر)|ست(?:ه|ين|ا|يف|ون|ار|و|ر)|سن(?:ه|وات|وي|ت|د|ين|غ)"
                           r"|سا(?:ع|ح|ب|ئ|م|ل|ن|ر|د))")
_CLAUSE_BREAK = re.compile(r"[.!?؟،,;؛:\n]")
_FUTURE_WINDOW = 6  # words before the weekday searched for a future verb


def resolve(text: str, published: str | date | None) -> list[DateNote]:
    """The relative dates of ``text`` resolved against ``published``; [] without a date."""
    day = parse_date(published) if published is not None else None
    if day is None or not text:
        return []
    folded = fold(text)
    taken: list[tuple[int, int]] = []
    notes: list[DateNote] = []
    for kind, pattern in _RULES:
        for match in pattern.finditer(folded):
            start, end = match.span()
            if _PROCLITIC_BEFORE.match(folded, start):
                start += 1  # the proclitic stays outside the phrase shown
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            resolved = _resolve(kind, match, folded, day)
            if resolved is None:
                continue
            taken.append((start, end))
            notes.append(DateNote(start, end, text[start:end], resolved.isoformat()))
    return sorted(notes, key=lambda note: note.start)


def _resolve(kind: str, match: re.Match, folded: str, day: date) -> date | None:
    if kind == "0":
        if not match.group("wd") and (_NOT_TODAY_AFTER.match(folded, match.end())
                                      or _NOT_TODAY_BEFORE.search(folded, max(0, match.start() - 40), match.start())):
            return None
        return _agree(day, match)
    if kind in ("-1", "+1"):
        return _agree(day + timedelta(days=int(kind)), match)
    if kind in ("-2", "+2"):
        return day + timedelta(days=int(kind))
    if kind == "days":
        count = 2 if match.group("two") else int(to_western_digits(match.group("n")))
        if count == 0:
            return None
        return day + timedelta(days=count if match.group("dir") == "بعد" else -count)
    weekday = weekday_number(match.group("wd"))
    if weekday is None:
        return None
    if weekday == 0 and not match.group("rel") and "يوم" not in match.group(0) and (
            _TWO_BEFORE.search(folded, max(0, match.start() - 20), match.start()) or _TWO_AFTER.match(folded, match.end())):
        return None
    relation = match.group("rel")
    if relation in ("المقبل", "القادم"):
        return _next(day, weekday, strictly=True)
    if relation in ("الماضي", "المنصرم", "الفائت"):
        return _previous(day, weekday, strictly=True)
    if _future_clause(folded, match.start()):
        return _next(day, weekday, strictly=False)
    return _previous(day, weekday, strictly=False)


def _agree(resolved: date, match: re.Match) -> date:
    """"اليوم الثلاثاء" in an article dated Wednesday: the article was dated a day late (a night
    edition, another time zone; 8% of ANT's "اليوم + weekday"): the named weekday wins when it is
    one day away. Further away, the text or the date is wrong: the date's reading is kept."""
    weekday = weekday_number(match.group("wd")) if match.group("wd") else None
    if weekday is None:
        return resolved
    for shift in (-1, 1):
        if (resolved + timedelta(days=shift)).weekday() == weekday:
            return resolved + timedelta(days=shift)
    return resolved


def _previous(day: date, weekday: int, strictly: bool) -> date:
    back = (day.weekday() - weekday) % 7
    return day - timedelta(days=back or (7 if strictly else 0))


def _next(day: date, weekday: int, strictly: bool) -> date:
    ahead = (weekday - day.weekday()) % 7
    return day + timedelta(days=ahead or (7 if strictly else 0))


def _future_clause(folded: str, start: int) -> bool:
    """Whether the words just before ``start`` (same clause) speak of the future."""
    before = folded[max(0, start - 120):start]
    cut = max((m.end() for m in _CLAUSE_BREAK.finditer(before)), default=0)
    words = before[cut:].split()[-_FUTURE_WINDOW:]
    return any(_FUTURE.fullmatch(word) and not _FUTURE_NOUNS.match(word) for word in words)
