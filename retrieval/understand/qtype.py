"""Question typing: what kind of thing a question asks for (a number, a time, a place, a person),
its content terms, and whether a sentence holds that kind of thing."""

from __future__ import annotations

import re

from retrieval.text.arabic import QUESTION_WORDS, STOPWORDS, normalize, stem, tokenize

QUESTION_TYPES = ("number", "time", "place", "person", "other")

_DIGIT = re.compile(r"\d")
_NUMBER_WORDS = frozenset(normalize(w) for w in (
    "واحد اثنان اثنين ثلاثة ثلاث أربعة أربع خمسة خمس ستة ست سبعة سبع ثمانية ثماني تسعة تسع عشرة عشر "
    "عشرات مئات آلاف ألف مليون مليار نحو حوالي أكثر أقل عدد مئة مائة").split())
_TIME_WORDS = frozenset(normalize(w) for w in (
    "السبت الأحد الاثنين الإثنين الثلاثاء الأربعاء الخميس الجمعة اليوم أمس غدا الماضي المقبل "
    "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر "
    "كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين عام سنة شهر أسبوع ساعة صباح مساء").split())
_PERSON_HINTS = frozenset(normalize(w) for w in (
    "رئيس الرئيس وزير مدير المبعوث مبعوث اللواء السيد نائب مستشار المتحدث زعيم قائد الملك الأمير").split())


def question_type(question: str) -> str:
    """number | time | place | person | other, from the question word (Arabic or English)."""
    tokens = tokenize(question)
    words = [t[1:] if t.startswith("و") and t[1:] in QUESTION_WORDS else t for t in tokens]
    head = " ".join(words[:3])
    if re.search(r"\b(كم|عدد|how many|how much)\b", head) or "عدد" in words:
        return "number"
    if re.search(r"\b(متي|when|what year|what day)\b", head):
        return "time"
    if re.search(r"\b(اين|where)\b", head):
        return "place"
    if re.search(r"\b(من|who|whom)\b", head):
        return "person"
    return "other"


def query_stems(text: str) -> set[str]:
    """Stemmed content terms of a question (what the excerpts should contain)."""
    return {stem(t) for t in tokenize(text) if t not in STOPWORDS}


def type_match(qtype: str, text: str) -> float:
    """1 when the sentence holds the kind of thing the question asks for (a place is not
    recognisable from the words alone, so "place" and "other" never match)."""
    if qtype == "number":
        return 1.0 if _DIGIT.search(text) or any(t in _NUMBER_WORDS for t in tokenize(text)) else 0.0
    if qtype == "time":
        tokens = tokenize(text)
        return 1.0 if any(t in _TIME_WORDS or t[1:] in _TIME_WORDS for t in tokens) or re.search(r"\d{4}", text) else 0.0
    if qtype == "person":
        return 1.0 if any(t in _PERSON_HINTS or t[2:] in _PERSON_HINTS for t in tokenize(text)) else 0.0
    return 0.0


def answer_type(question: str) -> str:
    """question_type, with the time and number questions it calls "other": "في أي عام", "ما تاريخ",
    "what year", "how old", "ما عدد"."""
    kind = question_type(question)
    if kind != "other":
        return kind
    words = " ".join(tokenize(question)[:5])
    if re.search(r"\b(?:في|منذ|الي|حتي)? ?(?:اي|اى) (?:عام|سنه|يوم|شهر|تاريخ|قرن|وقت|عقد|فتره)\b|\bما تاريخ\b|"
                 r"\bwhat (?:year|date|month|day|century|decade)\b|\bin which (?:year|month|century)\b", words):
        return "time"
    if re.search(r"\bhow old\b|\bما (?:عدد|عمر|نسبه|مساحه|طول|قيمه)\b|\bwhat (?:percentage|number)\b", words):
        return "number"
    return kind
