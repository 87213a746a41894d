"""Question typing: what kind of thing a question asks for (a number, a time, a place, a person),
its content terms, whether a sentence holds that kind of thing, and the question's words the answer phrase is
checked against (its own words, its event, its counted noun: ``asked_words``, read by answer/spans.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


_PREFIX = re.compile(r"^(?:وال|بال|فال|كال|لل|ال|و|ف|ب)(?=\w{3})")
_SUFFIX = re.compile(r"(?:ات|ين|ون|ان|ها|هم|ه|ا|ي)$")
# question words a question's event never is: the type words ("في أي عام"), light verbs, "عدد"
_NOT_EVENT = frozenset("عام سنه يوم شهر تاريخ قرن وقت عقد فتره تم يتم كان كانت يكون عدد مقدار نسبه اي".split())


def word_key(token: str) -> str:
    """A word's first four letters without its article, proclitic or ending: "مواطنا" and "المواطنين" meet
    (the Snowball stem does not strip the accusative alif: "مواطنا" -> "مواط", "مواطنين" -> "مواطن")."""
    token = _PREFIX.sub("", token)
    if len(token) > 4:
        token = _SUFFIX.sub("", token)
    return token[:4]


@dataclass(frozen=True)
class AskedWords:
    """What the answer phrase of a question is checked against (answer/spans.py): ``tokens``, the question's
    words (a phrase made of them is not its answer); ``keys``, the word_key of its content words (a number's
    counted noun must be one: "كم سجينا" -> "240 سجينا"); ``event``, the word_key of its first content word after
    its question words ("متى استقال باشوري" -> "استقال": the sentence that dates or counts it should name it)."""

    tokens: frozenset[str] = frozenset()
    keys: frozenset[str] = frozenset()
    event: str | None = None


def asked_words(question: str) -> AskedWords:
    """The AskedWords of ``question`` (the resolved question: a follow-up's words with its antecedent's)."""
    tokens = tokenize(question)
    event = next((word_key(t) for t in tokens if t not in STOPWORDS and t not in _NOT_EVENT and not t.isdigit()), None)
    return AskedWords(frozenset(tokens), frozenset(word_key(t) for t in tokens if t not in STOPWORDS), event)
