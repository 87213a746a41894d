"""Time in questions: the day, month or year a question names ("في مارس 2018", "آذار ٢٠١٨",
"يوم 6 مارس", "2018-03-06", "in March 2018"), and the wish for the newest ("آخر", "أحدث",
"latest"), read into a ``TimeFrame`` the retriever can prefer, and the question without them.

A date in a question often names an event rather than the time asked about ("هجوم 7 أكتوبر",
"هدنة نوفمبر", "كأس العالم 2022"); such dates carry no time marker, so a month or a day without
its year, and a bare year, count only after a marker ("في", "خلال", "يوم", "شهر", "منذ", "عام",
"in", "since" ...). A full date (2018-03-06, 6/3/2018, "6 مارس 2018", "March 2018") counts anywhere.
Month names come from ``retrieval.text.calendar_ar`` (Levantine, Egyptian and Maghrebi spellings)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date

from retrieval.text.calendar_ar import MONTH_VARIANTS, fold

_TASHKEEL = re.compile("[\u064b-\u0652\u0670\u0640]")


def _key(name: str) -> str:
    return " ".join(fold(_TASHKEEL.sub("", name)).split())


_ARABIC_MONTHS = {_key(name): number for name, number in MONTH_VARIANTS.items()}
_ENGLISH_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_ENGLISH_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_ENGLISH_MONTHS["sept"] = 9
_MONTHS = {**_ARABIC_MONTHS, **_ENGLISH_MONTHS}
# names that are also ordinary words ("أب" father, "باب" door = ب + آب; "mar", "may"): a month only
# beside a day number or a year, or after "شهر"
_AMBIGUOUS = {"اب", "mar", "may", "jun", "jul", "dec"}


def _alternation(keys) -> str:
    return "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in sorted(keys, key=len, reverse=True))


_MONTH = rf"(?:{_alternation(_MONTHS)})"
# "آذار/مارس", "تشرين الثاني (نوفمبر)": the Levantine and Egyptian names side by side are one month
_MONTH_PAIR = rf"[وبلف]?(?P<month>{_MONTH})\.?(?:\s*[/(]\s*(?P<month2>{_MONTH})\s*\)?)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_SEP = r"\s*[,،]?\s*"

# markers are folded words (ى -> ي, hamza seats -> ا): the time adverbials that make a date a time
_START_MARKERS = "منذ|بعد|since|after|from"  # not "من": "من مارس" is also "who practised"
_END_MARKERS = "قبل|حتي|لغايه|until|till|before|by"
_AT_MARKERS = "في|فى|خلال|يوم|بتاريخ|اثناء|طوال|in|on|during|at"
_MARKER = (rf"(?:(?P<marker>{_START_MARKERS}|{_END_MARKERS}|{_AT_MARKERS})\s+)?"
           r"(?:(?P<unit>شهر|يوم|عام|سنه|العام|السنه|month|year|the\s+year\s+of)\s+)?")

_PATTERNS: list[tuple[str, re.Pattern]] = [
    # 2018-03-06, 2018/3/6
    ("iso", re.compile(rf"(?<![\w/.-]){_MARKER}(?P<year>(?:19|20)\d\d)[-/.](?P<month>[01]?\d)[-/.](?P<day>[0-3]?\d)(?![\w/.-])",
                       re.I)),
    # 6/3/2018, 06-03-2018 (day first, as the Arabic press writes it)
    ("dmy", re.compile(rf"(?<![\w/.-]){_MARKER}(?P<day>[0-3]?\d)[-/.](?P<month>[01]?\d)[-/.](?P<year>(?:19|20)\d\d)(?![\w/.-])",
                       re.I)),
    # 2018-03, 3/2018
    ("ym", re.compile(rf"(?<![\w/.-]){_MARKER}(?:(?P<year>(?:19|20)\d\d)-(?P<month>[01]?\d)"
                      rf"|(?P<month_b>[01]?\d)/(?P<year_b>(?:19|20)\d\d))(?![\w/.-])", re.I)),
    # March 6, 2018 / March 6th
    ("mdy", re.compile(rf"(?<!\w){_MARKER}{_MONTH_PAIR}\s+{_DAY}(?:{_SEP}{_YEAR})?(?![\w])", re.I)),
    # 6 مارس 2018, 6 من مارس, في 6 آذار, 6th of March 2018, مارس 2018, شهر آذار
    ("dmy_name", re.compile(rf"(?<!\w){_MARKER}(?:{_DAY}\s*(?:من\s+|of\s+)?)?{_MONTH_PAIR}"
                            rf"(?:{_SEP}{_YEAR}|\s+(?:الماضي|المنصرم|الفائت|الفايت))?(?!\w)",
                            re.I)),
    # عام 2018, في 2018, in 2018
    ("year", re.compile(rf"(?<!\w)(?:(?P<marker>{_START_MARKERS}|{_END_MARKERS}|{_AT_MARKERS})\s+)?"
                        rf"(?:(?P<unit>عام|سنه|العام|السنه|year)\s+)?{_YEAR}(?!\w|[-/.]\d)", re.I)),
]

# the wish for the newest: آخر/أحدث + a noun ("آخر أخبار", "أحدث تطورات"), "مؤخراً", latest. Not
# "الأخير(ة)": "الاقتراح الأخير" names one proposal more often than it asks for the newest articles
_RECENT = re.compile(
    r"(?<!\w)(?:(?:[وب]?(?:اخر|احدث))(?=\s+[^\W\d_])|موخرا\u064b?|"
    r"latest|newest|most\s+recent(?:ly)?|recent(?:ly)?|lately)(?!\w)", re.I)


@dataclass(frozen=True)
class TimeFrame:
    """A period: ``start`` to ``end`` inclusive (either may be open: None). ``phrase`` is the
    text it was read from, ``unit`` "day", "month", "year" or "range"."""

    start: date | None
    end: date | None
    phrase: str = ""
    unit: str = "range"

    def contains(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def ordinals(self) -> tuple[int, int]:
        """(first, last) day as ``date.toordinal()``; open ends are the widest days."""
        return (self.start.toordinal() if self.start else 0, self.end.toordinal() if self.end else date.max.toordinal())

    def label(self) -> str:
        """"2018-03-01 – 2018-03-31", "since 2018-03-01", "until 2018-03-31"."""
        if self.start and self.end:
            return str(self.start) if self.start == self.end else f"{self.start} – {self.end}"
        return f"since {self.start}" if self.start else f"until {self.end}"


@dataclass(frozen=True)
class QuestionTime:
    """What a question says about time: its period (or None), whether it wants the newest
    articles, the phrases that said so, and the question without them (``stripped``)."""

    question: str
    frame: TimeFrame | None = None
    recent: bool = False
    phrases: tuple[str, ...] = field(default_factory=tuple)
    stripped: str = ""

    def __bool__(self) -> bool:
        return self.frame is not None or self.recent


def _month_span(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _infer_year(month: int, day: int | None, reference: date) -> int:
    """The year of a date written without one: the latest such day on or before ``reference``
    (a news question asks about what already happened)."""
    if (month, day or 1) <= (reference.month, reference.day):
        return reference.year
    return reference.year - 1


def _frame_of(kind: str, match: re.Match, reference: date) -> TimeFrame | None:
    groups = match.groupdict()
    marker = (groups.get("marker") or "").lower()
    unit = groups.get("unit")
    try:
        if kind in ("iso", "dmy"):
            start = end = date(int(groups["year"]), int(groups["month"]), int(groups["day"]))
            granularity = "day"
        elif kind == "ym":
            year, month = int(groups["year"] or groups["year_b"]), int(groups["month"] or groups["month_b"])
            start, end = _month_span(year, month)
            granularity = "month"
        elif kind == "year":
            if not marker and not unit:  # a bare year is a name ("كأس العالم 2022"), not a time
                return None
            year = int(groups["year"])
            start, end, granularity = date(year, 1, 1), date(year, 12, 31), "year"
        else:
            name = _key(groups["month"]).lower()
            month = _MONTHS[" ".join(name.split())]
            day = int(groups["day"]) if groups.get("day") else None
            year = int(groups["year"]) if groups.get("year") else None
            if year is None and not marker and not unit:
                return None  # "هجوم 7 أكتوبر", "هدنة نوفمبر": an event's name
            if name in _AMBIGUOUS and day is None and year is None and unit is None:
                return None
            if year is None:
                year = _infer_year(month, day, reference)
            if day is not None:
                start = end = date(year, month, day)
                granularity = "day"
            else:
                start, end = _month_span(year, month)
                granularity = "month"
    except (ValueError, KeyError):  # 31 February, month 13: not a date
        return None
    phrase = match.group(0).strip()
    if marker in _START_MARKERS.split("|"):
        return TimeFrame(start, None, phrase, "range")
    if marker in _END_MARKERS.split("|"):
        return TimeFrame(None, end, phrase, "range")
    return TimeFrame(start, end, phrase, granularity)


def find_frames(text: str, reference: date | None = None) -> list[tuple[int, int, TimeFrame]]:
    """Every period ``text`` names, as (start, end, frame) with offsets into ``text``, in order
    and not overlapping (the more specific reading of a stretch wins: a full date before a year)."""
    reference = reference or date.today()
    folded = fold(text)
    found: list[tuple[int, int, TimeFrame]] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(folded):
            lo, hi = match.span()
            if any(lo < b and a < hi for a, b in taken):
                continue
            frame = _frame_of(kind, match, reference)
            if frame is None:
                continue
            frame = TimeFrame(frame.start, frame.end, text[lo:hi].strip(), frame.unit)
            found.append((lo, hi, frame))
            taken.append((lo, hi))
    return sorted(found, key=lambda item: item[0])


def _merge(frames: list[TimeFrame]) -> TimeFrame | None:
    """One period from what the question names: "منذ مارس حتى مايو" is a range; otherwise the first."""
    if not frames:
        return None
    first = frames[0]
    if len(frames) > 1:
        second = frames[1]
        if first.end is None and second.start is None and second.end and first.start and first.start <= second.end:
            return TimeFrame(first.start, second.end, f"{first.phrase} {second.phrase}", "range")
    return first


def parse_question(question: str, reference: date | None = None) -> QuestionTime:
    """The time ``question`` names (see the module's docstring). ``reference`` (the newest
    article's date; today by default) gives a year to "في 6 مارس"."""
    frames = find_frames(question, reference)
    folded = fold(question)
    recent = list(_RECENT.finditer(folded))
    spans = [(lo, hi) for lo, hi, _ in frames] + [m.span() for m in recent]
    if not spans:
        return QuestionTime(question=question, stripped=question)
    stripped = question
    for lo, hi in sorted(spans, reverse=True):
        stripped = stripped[:lo] + " " + stripped[hi:]
    stripped = re.sub(r"\s+([؟?!.,،])", r"\1", " ".join(stripped.split())).strip()
    phrases = tuple(question[lo:hi].strip() for lo, hi in sorted(spans))
    return QuestionTime(question=question, frame=_merge([f for _, _, f in frames]), recent=bool(recent),
                        phrases=phrases, stripped=stripped)


def parse_period(value: str, reference: date | None = None) -> TimeFrame | None:
    """A date typed after ``:since`` / ``/since``: "2018-03-06", "2018-03", "2018", "6 مارس 2018",
    "آذار ٢٠١٨", "March 2018". None when it is not a date."""
    text = " ".join((value or "").split())
    if not text:
        return None
    if re.fullmatch(r"(?:19|20)\d\d", fold(text)):
        year = int(fold(text))
        return TimeFrame(date(year, 1, 1), date(year, 12, 31), text, "year")
    frames = find_frames(f"في {text}", reference)
    if len(frames) != 1 or frames[0][1] - frames[0][0] < len(text):
        return None  # a date and something else, or nothing: refuse rather than guess
    frame = frames[0][2]
    return TimeFrame(frame.start, frame.end, text, frame.unit)


def conversation_window(since: TimeFrame | None, until: TimeFrame | None) -> TimeFrame | None:
    """The filter ``:since A`` and ``:until B`` make together: from A's first day to B's last."""
    if since is None and until is None:
        return None
    start = since.start if since else None
    end = until.end if until else None
    return TimeFrame(start, end, "", "range")


def day_of(value: str | None) -> date | None:
    """An article's date ("2018-03-06", "2018-03-06T10:00:00Z") as a day; None when unknown."""
    if not value or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
