"""Time in questions (retrieval/understand/timeframe.py): days, months and years in Arabic (Egyptian and
Levantine month names, Arabic-Indic digits) and English, "latest", event names that are not times,
the phrase taken out of the question, and the dates typed after :since / /since."""

from __future__ import annotations

import json
from datetime import date

import pytest
from conftest import EVAL

from retrieval.understand.timeframe import TimeFrame, conversation_window, day_of, parse_period, parse_question

REFERENCE = date(2018, 10, 31)  # the newest ANT article's month: "في 6 مارس" is 6 March 2018
MARCH = (date(2018, 3, 1), date(2018, 3, 31))
MARCH_6 = (date(2018, 3, 6), date(2018, 3, 6))

CASES = [
    # question, (start, end), unit, the question without its time
    ("ماذا حدث في مارس 2018؟", MARCH, "month", "ماذا حدث؟"),
    ("ماذا حدث في آذار ٢٠١٨؟", MARCH, "month", "ماذا حدث؟"),
    ("أخبار النفط في شهر اذار 2018", MARCH, "month", "أخبار النفط"),
    ("أخبار النفط مارس 2018", MARCH, "month", "أخبار النفط"),
    ("أخبار النفط في آذار/مارس 2018", MARCH, "month", "أخبار النفط"),
    ("ماذا قال ترامب في 6 مارس؟", MARCH_6, "day", "ماذا قال ترامب؟"),
    ("ماذا قال ترامب يوم ٦ آذار ٢٠١٨؟", MARCH_6, "day", "ماذا قال ترامب؟"),
    ("ماذا قال ترامب في 6 من مارس 2018؟", MARCH_6, "day", "ماذا قال ترامب؟"),
    ("ماذا قال ترامب 2018-03-06", MARCH_6, "day", "ماذا قال ترامب"),
    ("ماذا قال ترامب بتاريخ ٢٠١٨/٠٣/٠٦", MARCH_6, "day", "ماذا قال ترامب"),
    ("ماذا قال ترامب يوم 6/3/2018", MARCH_6, "day", "ماذا قال ترامب"),
    ("أخبار محمد صلاح March 2018", MARCH, "month", "أخبار محمد صلاح"),
    ("What did Trump say on March 6, 2018?", MARCH_6, "day", "What did Trump say?"),
    ("What did Trump say on 6th March 2018?", MARCH_6, "day", "What did Trump say?"),
    ("oil prices in Mar 2018", MARCH, "month", "oil prices"),
    ("أسعار النفط 2018-03", MARCH, "month", "أسعار النفط"),
    ("أسعار النفط خلال شهر شباط", (date(2018, 2, 1), date(2018, 2, 28)), "month", "أسعار النفط"),
    ("أسعار النفط في فبراير 2016", (date(2016, 2, 1), date(2016, 2, 29)), "month", "أسعار النفط"),
    ("ماذا حدث في تشرين الثاني 2018", (date(2018, 11, 1), date(2018, 11, 30)), "month", "ماذا حدث"),
    ("ماذا حدث في كانون الأول", (date(2017, 12, 1), date(2017, 12, 31)), "month", "ماذا حدث"),  # the last one before October 2018
    ("ماذا حدث في إبريل 2018", (date(2018, 4, 1), date(2018, 4, 30)), "month", "ماذا حدث"),
    ("ماذا حدث في يونيه 2018", (date(2018, 6, 1), date(2018, 6, 30)), "month", "ماذا حدث"),
    ("ماذا حدث في أيار الماضي", (date(2018, 5, 1), date(2018, 5, 31)), "month", "ماذا حدث"),
    ("ماذا حدث خلال شهر آب", (date(2018, 8, 1), date(2018, 8, 31)), "month", "ماذا حدث"),
    ("ماذا قال ترامب عام 2018", (date(2018, 1, 1), date(2018, 12, 31)), "year", "ماذا قال ترامب"),
    ("ماذا قال ترامب في سنة ٢٠١٧", (date(2017, 1, 1), date(2017, 12, 31)), "year", "ماذا قال ترامب"),
    ("What did Trump say in 2018?", (date(2018, 1, 1), date(2018, 12, 31)), "year", "What did Trump say?"),
    ("أخبار النفط منذ مارس 2018", (date(2018, 3, 1), None), "range", "أخبار النفط"),
    ("أخبار النفط قبل مارس 2018", (None, date(2018, 3, 31)), "range", "أخبار النفط"),
    ("أخبار النفط منذ مارس حتى مايو 2018", (date(2018, 3, 1), date(2018, 5, 31)), "range", "أخبار النفط"),
]


@pytest.mark.parametrize(("question", "span", "unit", "stripped"), CASES)
def test_periods_in_arabic_and_english(question, span, unit, stripped):
    told = parse_question(question, REFERENCE)
    assert told.frame is not None, question
    assert (told.frame.start, told.frame.end) == span
    assert told.frame.unit == unit
    assert told.stripped == stripped
    assert told.frame.phrase and told.frame.phrase in question  # the words as the user wrote them
    assert not told.recent


@pytest.mark.parametrize(("question", "stripped"), [
    ("ما آخر أخبار محمد صلاح؟", "ما أخبار محمد صلاح؟"),
    ("أحدث تطورات الأزمة السورية", "تطورات الأزمة السورية"),
    ("ماذا حدث مؤخراً في اليمن؟", "ماذا حدث في اليمن؟"),
    ("latest news on Salah", "news on Salah"),
    ("What happened most recently in Yemen?", "What happened in Yemen?"),
])
def test_latest_is_a_wish_for_recent_articles(question, stripped):
    told = parse_question(question, REFERENCE)
    assert told.recent and told.frame is None and told.stripped == stripped


def test_latest_with_a_month():
    told = parse_question("آخر أخبار النفط في مارس 2018", REFERENCE)
    assert told.recent and (told.frame.start, told.frame.end) == MARCH and told.stripped == "أخبار النفط"


@pytest.mark.parametrize("question", [
    "كم شخصا قتل في هجوم 7 أكتوبر على جنوب إسرائيل؟",  # an event's name, not the time asked about
    "كم رهينة أُفرج عنهم خلال هدنة تشرين الثاني/نوفمبر؟",
    "من فاز بكأس العالم 2022؟",  # a bare year names the tournament
    "ما هي ثورة 25 يناير؟",
    "من مارس الرياضة في الحي؟",  # مارس: "practised"
    "ما قصة باب الحارة؟",  # باب is ب + آب (August) to a naive matcher
    "هل انتقل صلاح إلى فريق آخر؟",  # آخر: "another"
    "ما مدة التوقف بموجب الاقتراح الأخير؟",  # one proposal, not a wish for the newest articles
    "ماذا حدث في 31 فبراير 2018؟",  # no such day
    "ماذا حدث في 2018-13-01؟",
    "من التقى رشاد؟",
])
def test_no_time_where_there_is_none(question):
    told = parse_question(question, REFERENCE)
    assert not told and told.frame is None and told.stripped == question


def test_the_evaluation_questions_name_no_time_except_one():
    """The seed sets' questions keep ranking as before: only one of them names a time."""
    questions = []
    for name in ("seed_qa.jsonl", "unanswerable.jsonl"):
        questions += [json.loads(line)["question"] for line in (EVAL / name).read_text(encoding="utf-8").splitlines()
                      if line.strip()]
    timed = [q for q in questions if parse_question(q, REFERENCE)]
    assert timed == ["Who won the Nobel Peace Prize in 2023?"]


def test_a_year_is_inferred_from_the_reference():
    assert parse_question("ماذا حدث في 6 نوفمبر", date(2018, 10, 31)).frame.start == date(2017, 11, 6)
    assert parse_question("ماذا حدث في 6 مارس", date(2018, 3, 6)).frame.start == date(2018, 3, 6)


@pytest.mark.parametrize(("value", "span"), [
    ("2018-03-06", MARCH_6),
    ("2018-03", MARCH),
    ("2018", (date(2018, 1, 1), date(2018, 12, 31))),
    ("٢٠١٨", (date(2018, 1, 1), date(2018, 12, 31))),
    ("6 مارس 2018", MARCH_6),
    ("آذار ٢٠١٨", MARCH),
    ("March 2018", MARCH),
    ("6/3/2018", MARCH_6),
    ("مارس", MARCH),
])
def test_dates_typed_after_since(value, span):
    frame = parse_period(value, REFERENCE)
    assert frame is not None and (frame.start, frame.end) == span


@pytest.mark.parametrize("value", ["", "off", "yesterday-ish", "مارس 2018 وما بعده", "2018-02-30", "رشاد"])
def test_what_is_not_a_date_after_since(value):
    assert parse_period(value, REFERENCE) is None


def test_conversation_window_and_frames():
    since, until = parse_period("2018-03", REFERENCE), parse_period("2018-05", REFERENCE)
    window = conversation_window(since, until)
    assert (window.start, window.end) == (date(2018, 3, 1), date(2018, 5, 31))
    assert window.contains(date(2018, 4, 2)) and not window.contains(date(2018, 6, 1))
    assert conversation_window(None, None) is None
    assert conversation_window(since, None).label() == "since 2018-03-01"
    assert TimeFrame(date(2018, 3, 6), date(2018, 3, 6)).label() == "2018-03-06"
    assert day_of("2018-03-06T10:00:00Z") == date(2018, 3, 6) and day_of("06/03/2018") is None and day_of(None) is None
