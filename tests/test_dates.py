"""Dates: Arabic calendar words (retrieval/text/calendar_ar.py) and relative dates resolved against an
article's publication date (retrieval/text/relative_dates.py), on the seed articles' own sentences."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from retrieval.text.calendar_ar import (
    MONTHS_EGYPTIAN,
    MONTHS_LEVANTINE,
    WEEKDAYS,
    find_months,
    find_weekdays,
    format_date,
    format_date_ar,
    month_number,
    parse_date,
    to_western_digits,
    weekday_number,
)
from retrieval.text.relative_dates import resolve

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
TUESDAY = "2018-03-06"  # a Tuesday


def test_every_month_in_both_families_and_their_variants() -> None:
    for number in range(1, 13):
        assert month_number(MONTHS_LEVANTINE[number]) == month_number(MONTHS_EGYPTIAN[number]) == number
    variants = {"ابريل": 4, "إبريل": 4, "يونيه": 6, "يوليه": 7, "اغسطس": 8, "تشرين أول": 10, "تشرين  الثاني": 11,
                "كانون ثاني": 1, "اذار": 3, "ايار": 5, "وآذار": 3, "بمارس": 3, "لشباط": 2, "أيلول": 9, "مايّو": 5}
    assert {word: month_number(word) for word in variants} == variants
    assert month_number("الأسبوع") is None and month_number("ماي") is None  # a word, not a month


def test_weekday_names_with_and_without_hamza() -> None:
    for number, name in enumerate(WEEKDAYS):
        assert weekday_number(name) == number == date(2018, 3, 5 + number).weekday()  # 5 March 2018: a Monday
    assert [weekday_number(w) for w in ("الإثنين", "الاثنين", "الاحد", "الأحد", "الاربعاء", "والخميس")] == [0, 0, 6, 6, 2, 3]


def test_finders_give_offsets_into_the_original_text() -> None:
    text = "في ٦ تشرين الثاني/نوفمبر ٢٠١٨، وأيضا يوم الإثنين"
    months = list(find_months(text))
    assert [(text[s:e], n) for s, e, n in months] == [("تشرين الثاني", 11), ("نوفمبر", 11)]
    assert [(text[s:e], n) for s, e, n in find_weekdays(text)] == [("الإثنين", 0)]


def test_digits_and_formatting() -> None:
    assert to_western_digits("٢٠١٨/٠٣/٠٦ و۱۴") == "2018/03/06 و14"
    assert format_date_ar(date(2018, 3, 6)) == "6 مارس 2018"
    assert format_date_ar(date(2018, 3, 6), style="levantine") == "6 آذار 2018"
    assert format_date(date(2018, 3, 6)) == "6 مارس 2018" and format_date(date(2018, 12, 1), "en") == "1 December 2018"
    assert parse_date(format_date(date(2018, 9, 30), "en")) == date(2018, 9, 30)  # read back as written


@pytest.mark.parametrize(("value", "expected"), [
    ("2018-03-06", date(2018, 3, 6)), ("2018-03-06T23:30:00-05:00", date(2018, 3, 6)), ("2018/3/6", date(2018, 3, 6)),
    ("06/03/2018", date(2018, 3, 6)), ("6 مارس 2018", date(2018, 3, 6)), ("٦ آذار ٢٠١٨", date(2018, 3, 6)),
    ("6 March 2018", date(2018, 3, 6)), ("6 تشرين الثاني/نوفمبر 2018", date(2018, 11, 6)),
    ("2018-02-30", None), ("2018-13-01", None), ("أمس", None), ("", None), (None, None), (20180306, None),
])
def test_parse_date(value, expected) -> None:
    assert parse_date(value) == expected


# ---------------------------------------------------------------- relative dates

# (text, the phrase shown, the date it names) for an article of Tuesday 6 March 2018
CASES = [
    ("وصل اليوم الثلاثاء إلى القدس", "اليوم الثلاثاء", "2018-03-06"),
    ("قال اليوم إن المحادثات مستمرة", "اليوم", "2018-03-06"),
    ("وأمس الأربعاء، أعربت حماس عن التزامها", "أمس الأربعاء", "2018-03-05"),  # a weekday 2 days off: أمس wins
    ("وأمس الأحد، أعربت حماس عن التزامها", "أمس الأحد", "2018-03-04"),  # one day off: the weekday wins
    ("وصل اليوم الأربعاء", "اليوم الأربعاء", "2018-03-07"),  # an article dated a day early
    ("أعلن أمس أن الوفد سيصل", "أمس", "2018-03-05"),
    ("وقال مساء أمس إن", "مساء أمس", "2018-03-05"),
    ("يصل الوفد غداً إلى القاهرة", "غداً", "2018-03-07"),
    ("يصل الوفد غدا إلى القاهرة", "غدا", "2018-03-07"),
    ("ويعقد الاجتماع يوم غد في القاهرة", "يوم غد", "2018-03-07"),
    ("ويعقد بعد غد", "بعد غد", "2018-03-08"),
    ("التقيا أول أمس", "أول أمس", "2018-03-04"),
    ("تبدأ الجولة الليلة في الرياض", "الليلة", "2018-03-06"),
    ("وقع الانفجار الليلة الماضية", "الليلة الماضية", "2018-03-05"),
    ("التقى بلينكن السيسي يوم الاثنين", "يوم الاثنين", "2018-03-05"),
    ("وأكد الثلاثاء أن", "الثلاثاء", "2018-03-06"),  # the day itself
    ("وكان قد قال الأربعاء إن", "الأربعاء", "2018-02-28"),
    ("وكان قد قال الخميس إن", "الخميس", "2018-03-01"),
    ("وصلى الجمعة في المسجد", "الجمعة", "2018-03-02"),
    ("وأعلن السبت أن", "السبت", "2018-03-03"),
    ("وأعلن الأحد أن", "الأحد", "2018-03-04"),
    ("وأعلن الإثنين أن", "الإثنين", "2018-03-05"),
    ("يعقد المؤتمر الاثنين المقبل", "الاثنين المقبل", "2018-03-12"),
    ("يعقد المؤتمر الثلاثاء المقبل", "الثلاثاء المقبل", "2018-03-13"),  # the next one, not today
    ("يعقد المؤتمر يوم الخميس القادم", "يوم الخميس القادم", "2018-03-08"),
    ("عقد المؤتمر الثلاثاء الماضي", "الثلاثاء الماضي", "2018-02-27"),  # the one before, not today
    ("عقد المؤتمر الجمعة الماضي", "الجمعة الماضي", "2018-03-02"),
    ("ذكرت تقارير أنه سيلتقي مسؤولين بينهم نتنياهو الأربعاء في القدس", "الأربعاء", "2018-03-07"),  # a future clause
    ("ومن المقرر أن يصل الوفد الخميس", "الخميس", "2018-03-08"),
    ("قتل قبل ٣ أيام", "قبل ٣ أيام", "2018-03-03"),
    ("أعلن منذ 10 أيام", "منذ 10 أيام", "2018-02-24"),
    ("يصل بعد ٢ يوم", "بعد ٢ يوم", "2018-03-08"),
    ("وقع منذ يومين", "منذ يومين", "2018-03-04"),
]


@pytest.mark.parametrize(("text", "phrase", "day"), CASES, ids=[case[1] for case in CASES])
def test_relative_date_table(text: str, phrase: str, day: str) -> None:
    notes = resolve(text, TUESDAY)
    assert [(n.phrase, n.date) for n in notes] == [(phrase, day)]
    assert text[notes[0].start:notes[0].end] == phrase  # the span is the text as written


@pytest.mark.parametrize("text", [
    "في اليوم التالي أعلن", "بمناسبة اليوم العالمي للمرأة", "نقلت صحيفة اليوم السابع", "وفي ذلك اليوم قال",
    "اتفق الاثنين معا على", "عقد الاجتماع يوم الثلاثاء 20 مارس", "الأحد، ٤ مارس", "الخميس الموافق 8 مارس",
    "الخلاف بين الاثنين", "تسعى الدول لتحقيق الاستقرار", "مراسل الغد في غزة",
])
def test_not_a_relative_date(text: str) -> None:
    assert resolve(text, TUESDAY) == []


def test_without_a_publication_date_nothing_is_resolved() -> None:
    assert resolve("اليوم الثلاثاء", None) == [] and resolve("اليوم الثلاثاء", "not a date") == []


def test_label_shows_the_phrase_with_its_absolute_date() -> None:
    [note] = resolve("وصل اليوم الثلاثاء", TUESDAY)
    assert note.label == "اليوم الثلاثاء (6 مارس 2018)"


def test_weekday_arithmetic_over_every_day_of_a_year() -> None:
    """For every publication day of 2018 and every weekday: the bare name is the latest such day
    on or before it, "الماضي" the latest strictly before, "المقبل" the first strictly after."""
    for offset in range(365):
        published = date(2018, 1, 1) + timedelta(days=offset)
        for number, name in enumerate(WEEKDAYS):
            found = {}
            for suffix in ("", " الماضي", " المقبل"):
                [note] = resolve(f"وقال {name}{suffix} إن", published.isoformat())
                found[suffix] = date.fromisoformat(note.date)
                assert found[suffix].weekday() == number
            assert 0 <= (published - found[""]).days <= 6
            assert 1 <= (published - found[" الماضي"]).days <= 7
            assert 1 <= (found[" المقبل"] - published).days <= 7


def test_seed_article_sentences() -> None:
    """Sentences of the seed articles as they are: every relative day is found, spans verbatim."""
    seed = (CORPUS / "000_bfedeb9d58756a4b.txt").read_text(encoding="utf-8")
    sentence = next(line for line in seed.splitlines() if line.startswith("ووصل نائب الرئيس"))
    notes = resolve(sentence, "2025-10-21")  # Vance landed in Israel on Tuesday 21 October 2025
    assert [(n.phrase, n.date) for n in notes] == [("ظهر اليوم الثلاثاء", "2025-10-21")]  # "بعد ظهر اليوم الثلاثاء"
    seed = (CORPUS / "002_c51d769e648d5aa3.txt").read_text(encoding="utf-8")
    first = next(line for line in seed.splitlines() if line.startswith("نقلت رويترز"))
    notes = resolve(first, "2024-11-28")  # a Thursday
    assert [(n.phrase, n.date) for n in notes] == [("الأربعاء", "2024-11-27"), ("اليوم الخميس", "2024-11-28")]
    for note in notes:
        assert first[note.start:note.end] == note.phrase
