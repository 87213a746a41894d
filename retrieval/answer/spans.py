"""The answer phrase of the lead excerpt: for a question that asks for a time ("متى", "في أي عام", "when")
or a number ("كم", "how many"), the one phrase of that kind in the best sentence, when it can be found
with confidence; the front ends show it in bold (Excerpt.answer). Only times are shown (SHIPPED_TYPES).

Rules, not a model: no span model exists, and a wrong bold phrase is worse than none, so every gate leans
to saying nothing. The gates (GATES: one candidate only, the answer's confidence, the question's words and
event in the sentence) were chosen on XQuAD's article fold 0 and checked on fold 1, ARCD-train and the
seed questions (bench/eval_spans.py; README "The answer phrase").

    number  digits or number words, with an approximation before ("نحو") and a scale ("ملايين") and the
            counted noun after ("5 ملايين دولار", "ثلاثة أيام", "24 اعتراضاً", "10%")
    time    a date ("15 أكتوبر 2023", "تموز/يوليو 1961"), a year ("عام 1998", "1944", "1870 إلى 1939"),
            a century or a decade ("القرن السادس عشر", "الستينيات"), a weekday ("يوم الأحد الماضي")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.models import Answer
from retrieval.text.arabic import STOPWORDS, TASHKEEL, tokenize
from retrieval.text.calendar_ar import MONTH_PATTERN, WEEKDAY_PATTERN, fold
from retrieval.understand.qtype import AskedWords, answer_type, asked_words, word_key
from retrieval.understand.query import Query


@dataclass(frozen=True)
class Gates:
    """When a candidate phrase is shown: the answer's confidence (Answer.confidence; an unsure answer never
    gets one), the question's words the lead sentence must hold (Excerpt.highlights: a sentence sharing few
    words with the question is more often the wrong sentence), the most characters between the phrase and
    the nearest of them, and whether the sentence must name the question's event (its first content word:
    "متى استقال ..." wants a sentence with "استقال", not one that dates something else about the subject)."""

    min_confidence: float
    min_words: int
    max_gap: int
    event: bool = False


# chosen by `bench/eval_spans.py --tune` on XQuAD fold 0 (Arabic and English questions, READER=off): the
# highest strict precision among the settings that bold at least 15 questions (README "The answer phrase")
GATES = {"number": Gates(min_confidence=0.6, min_words=3, max_gap=40),
         "time": Gates(min_confidence=0.8, min_words=2, max_gap=80, event=True)}
# the types whose held-out precision measured >= 0.9. Numbers are not shown: 0.95 on fold 0 but 0.63 on
# fold 1, 0.78 on ARCD-train (the lead sentence is often not the one that holds the count asked for)
SHIPPED_TYPES = frozenset({"time"})




def _names(pattern: re.Pattern) -> str:
    """The alternation of names inside calendar_ar's pattern, without its word boundaries."""
    return pattern.pattern.split("(?P<name>", 1)[1].rsplit(")(?!\\w)", 1)[0]


_MONTH = _names(MONTH_PATTERN)
_WEEKDAY = _names(WEEKDAY_PATTERN)
_B = r"(?<!\w)[وبلف]?"  # a word start, with at most one proclitic left outside the span
_E = r"(?!\w)"
_NUM = r"\d+(?:[.,٫٬]\d+)*"
_YEAR = r"(?:1\d{3}|20\d{2}|[1-9]\d{1,2}(?=\s*(?:م|ه|هـ|ق\.?\s*م|قبل الميلاد|للميلاد|ميلادي)(?!\w)))"
_ERA = r"(?:\s*(?:م|ه|هـ|ق\.?\s*م|قبل الميلاد|للميلاد|ميلاديه|ميلادي|هجريه)(?!\w))?"
_YEAR_WORD = r"(?:العام|عام|السنه|سنه|سنتي|عامي)"
_RANGE = r"\s*(?:-|–|—|/|الي|حتي|و|او)\s*"
_ORDINALS = ("الاول الثاني الثالث الرابع الخامس السادس السابع الثامن التاسع العاشر الحادي الثاني عشر العشرين "
             "الواحد").split()
_DECADE = r"(?:ال)?(?:عشر|ثلاث|اربع|خمس|ست|سبع|ثمان|تسع)ي?ن(?:ي)?ات"

_TIME = re.compile("|".join(rf"(?:{p})" for p in (
    # a day and a month (two spellings joined by "/"), a year after it: "6 تشرين الأول/أكتوبر 1973"
    rf"{_B}(?:\d{{1,2}}\s+(?:من\s+)?)?(?:شهر\s+)?(?:{_MONTH})(?:\s*/\s*(?:{_MONTH}))?(?![^\W\d_])"
    rf"(?:\s*(?:من\s+)?(?:{_YEAR_WORD}\s+)?\d{{4}}{_ERA})?",
    r"(?<![\d.,/:])\d{1,2}[/.-]\d{1,2}[/.-]\d{4}(?![\d/.-]\d)|(?<![\d.,])\d{4}-\d{2}-\d{2}(?!\d)",
    # a year, with its word and a second year of a range: "عام 1998", "من 1870 إلى 1939", "2014-2015"
    rf"{_B}(?:{_YEAR_WORD}\s+)?(?<![\d.,:])(?:{_YEAR}){_ERA}(?:{_RANGE}(?:{_YEAR_WORD}\s+)?{_YEAR}{_ERA})?(?![\d.,%٪]?\d|\s*%|\s*٪)",
    rf"{_B}القرن\s+(?:(?:{'|'.join(_ORDINALS)})(?:\s+عشر)?|\d{{1,2}})(?:\s+(?:الميلادي|للميلاد|قبل الميلاد|الهجري))?{_E}",
    rf"{_B}(?:{_DECADE})(?:\s+(?:من\s+)?القرن(?:\s+(?:الماضي|العشرين|التاسع عشر|الثامن عشر|ال\d+))?)?{_E}",
    rf"{_B}(?:(?:ال)?يوم\s+)?(?:{_WEEKDAY})(?:\s+(?:الماضي|المقبل|القادم))?{_E}",
)))

_SCALE = r"(?:الف|الاف|الفا|مليون|ملايين|مليونا|مليار|مليارات|بليون|تريليون|مئه|مائه)"
_ONES = "واحد واحده اثنان اثنين اثنتان اثنتين ثلاث ثلاثه اربع اربعه خمس خمسه ست سته سبع سبعه ثماني ثمانيه ثمان تسع تسعه عشر عشره"
_TENS = "عشرون عشرين ثلاثون ثلاثين اربعون اربعين خمسون خمسين ستون ستين سبعون سبعين ثمانون ثمانين تسعون تسعين"
_HUNDREDS = ("مئه مائه مئتان مئتين مائتان مائتين مائتي ثلاثمائه ثلاثمئه اربعمائه اربعمئه خمسمائه خمسمئه ستمائه ستمئه "
             "سبعمائه سبعمئه ثمانمائه ثمانمئه تسعمائه تسعمئه الف الفان الفين الاف")
_NUMBER_WORD = "|".join(sorted(f"{_ONES} {_TENS} {_HUNDREDS}".split(), key=len, reverse=True))
_NUMBER_TOKENS = frozenset(f"{_ONES} {_TENS} {_HUNDREDS} احد احدي نحو حوالي حوالى قرابه زهاء اكثر اقل ما يقارب يزيد عن علي "
                           "مليون ملايين مليونا مليار مليارات بليون تريليون".split())
_NUMBER_WORDS = rf"(?:(?:احد|احدي)\s+عشر[ه]?|{_NUMBER_WORD})(?:\s+عشر[ه]?)?(?:\s+و(?:{_NUMBER_WORD})(?:\s+عشر[ه]?)?)*(?!\w)"
_APPROX = r"(?:(?:نحو|حوالي|حوالى|قرابه|زهاء|اكثر من|اقل من|ما يقارب|ما يزيد عن|ما يزيد علي)\s+)?"
_FIGURE = (rf"(?:\d{{1,2}}:\d{{2}}(?!\d)"  # a clock or a duration: "3:08"
           rf"|{_NUM}(?:\s*[-–]\s*{_NUM}|\s*[×x]\s*{_NUM})?(?:\s*[%٪])?"  # "100-150", "1.1 × 1011", "10%"
           rf"|(?<!\w)(?:{_NUMBER_WORDS}))")
_NUMBER = re.compile(
    rf"(?:(?<![\w.,٫٬/:-])|(?<=(?<!\w)و)){_APPROX}{_FIGURE}(?![\w.,٫٬/:]\d)"
    rf"(?:\s+{_SCALE}{_E})?"  # "5 ملايين"
    rf"(?:\s*[^\W\d_]+(?=[\s،,.؛:)]|$))?")  # the counted noun (a function word is trimmed off later)


@dataclass(frozen=True)
class Span:
    """A candidate answer phrase: ``text[start:end]`` of the sentence, and its kind."""

    start: int
    end: int
    kind: str


def _clean(text: str) -> tuple[str, list[int]]:
    """``text`` folded (hamza seats, ى, ة, digits) without diacritics or tatweel, and each character's
    offset in ``text`` (so a match maps back to the verbatim sentence)."""
    kept = [(fold(ch), i) for i, ch in enumerate(text) if not TASHKEEL.fullmatch(ch)]
    return "".join(ch for ch, _ in kept), [i for _, i in kept]


def _matches(pattern: re.Pattern, text: str, clean: str, offsets: list[int], kind: str) -> list[Span]:
    spans = []
    for match in pattern.finditer(clean):
        start, end = match.start(), match.end()
        while start < end and clean[start] in "وبلف" and end - start > 1 and not clean[start + 1].isspace() \
                and _starts_with_proclitic(clean, start):
            start += 1
        piece = clean[start:end].rstrip(" ،,.؛")
        end = start + len(piece)
        if piece.strip():
            stop = offsets[end - 1] + 1
            while stop < len(text) and TASHKEEL.fullmatch(text[stop]):  # the last letter's diacritics ("اعتراضاً")
                stop += 1
            spans.append(Span(offsets[start], stop, kind))
    return spans


def _starts_with_proclitic(clean: str, start: int) -> bool:
    """Whether the word at ``start`` is a proclitic glued to a word the pattern knows (و2000، بعام، لمارس)."""
    rest = clean[start + 1:start + 12]
    return bool(re.match(r"(?:\d|عام|سنه|العام|السنه|يوم|اليوم|القرن|شهر|ال|" + _MONTH + ")", rest))


_BARE_YEAR = re.compile(r"\d{4}")
# a bare four-digit number is a year after a time word ("في 1944", "منذ 1990") or before a pause or a
# conjunction ("1817 واستمرت"); before a noun it counts something ("مقتل 1194 شخصا")
_YEAR_BEFORE = re.compile(r"(?:(?<!\w)(?:في|منذ|حتي|من|الي|بين|قبل|بعد|خلال|مطلع|اواخر|اوائل|نهايه|بدايه|منتصف)\s+"
                          r"|(?<!\w)[وبلف])$")
_YEAR_AFTER = re.compile(r"\s*(?:$|[^\w\s]|[وف]\w|(?:في|من|الي|حتي|عندما|حين|بعد|قبل|عن|علي|مع|ثم)(?!\w))")


def time_spans(text: str) -> list[Span]:
    """Every date or time expression of ``text``, longest first where two overlap."""
    clean, offsets = _clean(text)
    spans = []
    for span in _matches(_TIME, text, clean, offsets, "time"):
        piece = fold(TASHKEEL.sub("", text[span.start:span.end]))
        if piece == "اب":  # "آب" (August) alone is also "أب" (a father)
            continue
        if _BARE_YEAR.fullmatch(piece) and not (_YEAR_BEFORE.search(fold(text[max(0, span.start - 12):span.start]))
                                                or _YEAR_AFTER.match(fold(text[span.end:span.end + 12]))):
            continue
        spans.append(span)
    return _disjoint(spans)


def number_spans(text: str) -> list[Span]:
    """Every number phrase of ``text`` that is not part of a date or a year."""
    clean, offsets = _clean(text)
    times = time_spans(text)
    spans = []
    for span in _matches(_NUMBER, text, clean, offsets, "number"):
        if any(t.start < span.end and span.start < t.end for t in times):
            continue
        spans.append(_trim_noun(text, span))
    return _disjoint(spans)


def _trim_noun(text: str, span: Span) -> Span:
    """Drop a trailing word that is a function word ("في", "من"), not a counted noun."""
    piece = text[span.start:span.end]
    words = piece.split()
    if len(words) > 1 and (tokenize(words[-1]) or [""])[0] in STOPWORDS | {"و"}:
        return Span(span.start, span.start + piece.rfind(words[-1]) - 1 if piece.rfind(words[-1]) > 0 else span.end,
                    span.kind)
    return span


def _disjoint(spans: list[Span]) -> list[Span]:
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
        if all(span.end <= c.start or c.end <= span.start for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def candidates(asked: AskedWords, text: str, kind: str) -> list[Span]:
    """The phrases of ``text`` of the kind the question asks for, less those made of the question's own
    words (a year or a number the question names is not its answer)."""
    found = number_spans(text) if kind == "number" else time_spans(text) if kind == "time" else []
    return [s for s in found if not set(tokenize(text[s.start:s.end])) <= asked.tokens]


def _names_event(asked: AskedWords, text: str) -> bool:
    return asked.event is None or any(word_key(t) == asked.event for t in tokenize(text))


def _counted(asked: AskedWords, text: str, found: list[Span]) -> list[Span]:
    """The number phrases whose counted noun is a word of the question ("كم سجينا" -> "240 سجينا"); none
    when a phrase has no noun (it may count the question's thing too: "158349 عائلة منها 68511")."""
    nouns = [[word_key(t) for t in tokenize(text[s.start:s.end]) if not t.isdigit() and t not in _NUMBER_TOKENS] for s in found]
    if not all(nouns):
        return []
    return [s for s, words in zip(found, nouns) if any(w in asked.keys for w in words)]


def _near(span: Span, highlights: list[tuple[int, int]]) -> int:
    """Characters between ``span`` and the nearest of the question's words in the sentence."""
    return min((max(start - span.end, span.start - end, 0) for start, end in highlights), default=10_000)


def find_span(question: Query | str, text: str, highlights: list[tuple[int, int]] | None = None,
              confidence: float | None = None, unsure: bool = False, *, types: frozenset[str] = SHIPPED_TYPES,
              min_confidence: float | None = None, min_words: int | None = None,
              max_gap: int | None = None, event: bool | None = None, kind: str | None = None) -> tuple[int, int] | None:
    """(start, end) of the answer phrase inside ``text`` (the lead sentence), or None. Shown only when the
    question asks for a shipped type, the answer passes its type's GATES (the keywords override them), and
    the sentence holds exactly one phrase of the type that is not the question's own words (for a number,
    several are narrowed to the one that counts the question's noun). ``question``: the Query (its answer_type
    and its AskedWords, read by Understand), or a question's text, read here the same way (scripts, tests)."""
    if isinstance(question, str):
        asked, typed = asked_words(question), answer_type(question)
    else:
        asked, typed = question.asked, question.answer_type
    kind = typed if kind is None else kind
    if kind not in types:
        return None
    gates = GATES.get(kind, Gates(0.0, 0, 10_000))
    min_confidence = gates.min_confidence if min_confidence is None else min_confidence
    min_words = gates.min_words if min_words is None else min_words
    max_gap = gates.max_gap if max_gap is None else max_gap
    event = gates.event if event is None else event
    highlights = highlights or []
    if unsure or (confidence is not None and confidence < min_confidence) or len(highlights) < min_words \
            or (event and not _names_event(asked, text)):
        return None
    found = candidates(asked, text, kind)
    if kind == "number" and len(found) > 1:
        found = _counted(asked, text, found)
    if len(found) != 1 or _near(found[0], highlights) > max_gap:
        return None  # none, or several: which one answers is a guess, and a wrong bold phrase is worse than none
    return found[0].start, found[0].end


def mark_answer(answer: Answer, query: Query | str | None = None) -> Answer:
    """Set the lead excerpt's answer phrase (Excerpt.answer) when one is confidently found; the composer calls
    this on every composed answer with its Query (answer/composer.py); given a kind alone (an answer type), as
    scripts and tests may, it reads the answer's resolved question instead."""
    if answer.abstained or not answer.excerpts:
        return answer
    lead = answer.excerpts[0]
    if isinstance(query, Query):
        lead.answer = find_span(query, lead.text, lead.highlights, answer.confidence, answer.unsure)
    else:
        lead.answer = find_span(answer.resolved_question or answer.question, lead.text, lead.highlights,
                                answer.confidence, answer.unsure, kind=query)
    return answer
