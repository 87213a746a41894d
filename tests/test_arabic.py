"""The Arabic analyzer: normalisation, tokens, stopwords, stems and sentence spans."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import SEED_CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.text.arabic import (
    ANALYZER_VERSION,
    QUESTION_WORDS,
    STOPWORDS,
    analyze,
    content_tokens,
    normalize,
    sentence_spans,
    stem,
    tokenize,
)


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


# --- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("مُحَمَّدٌ", "محمد"),  # tashkeel
        ("كـــتاب", "كتاب"),  # tatweel
        ("أحمد إبراهيم آمنة ٱلله", "احمد ابراهيم امنه الله"),  # alef forms, ta marbuta
        ("مستشفى", "مستشفي"),  # alef maqsura
        ("مدرسة", "مدرسه"),  # ta marbuta
        ("٢٠٢٤", "2024"),  # Arabic-Indic digits
        ("۲۰۲۴", "2024"),  # Persian digits
        ("Witkoff ويتكوف", "witkoff ويتكوف"),  # Latin lowercased, kept in mixed text
        ("ترا\u200fمب", "ترامب"),  # a right-to-left mark inside a word
        ("غ\u200bزة", "غزه"),  # a zero-width space inside a word
    ],
)
def test_normalize_cases(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_keeps_spaces_and_punctuation() -> None:
    assert normalize("قال: «نعم»، ثم ذهب.") == "قال: «نعم»، ثم ذهب."


def test_diacritised_word_is_one_token() -> None:
    # the reason normalisation comes first: a \w\w+ tokenizer drops or splits "مُحَمَّدٌ"
    assert tokenize("مُحَمَّدٌ رسول") == ["محمد", "رسول"]
    assert tokenize("كـــتاب") == ["كتاب"]


def test_digits_become_one_ascii_token() -> None:
    assert tokenize("عام ٢٠٢٤ وعام ۲۰۲۵") == ["عام", "2024", "وعام", "2025"]


def test_mixed_script_tokens() -> None:
    assert tokenize("استقبل Steve Witkoff ويتكوف") == ["استقبل", "steve", "witkoff", "ويتكوف"]


@pytest.mark.parametrize("mark", ["،", "؛", "؟", ",", ";", "?", "!", ".", ":", "«", "»", "(", ")", "-", "/"])
def test_punctuation_splits_tokens(mark: str) -> None:
    assert tokenize(f"غزة{mark}القدس") == ["غزه", "القدس"]


def test_tokenize_empty() -> None:
    assert tokenize("") == []
    assert tokenize("  ،؛؟ ... ") == []


# --- stopwords, stems, analyze ---------------------------------------------------------------


def test_question_words_are_stopwords() -> None:
    assert QUESTION_WORDS <= STOPWORDS
    for word in ("من", "ما", "ماذا", "متى", "أين", "كم", "هل", "كيف", "لماذا", "أيّ", "مَن"):
        assert analyze(word) == [], word


@pytest.mark.parametrize("word", ["ومتى", "وماذا", "وكيف", "وهل", "فمن", "ولماذا"])
def test_question_words_with_a_conjunction_are_stopwords(word: str) -> None:
    # follow-ups start with them ("وماذا عن ...؟"); their stems ("ماذ") would match noise
    assert analyze(word) == []


def test_stopword_lists_are_normalised() -> None:
    # tokens are normalised before the lookup, so a list entry such as "متى" would never match
    assert all(normalize(word) == word for word in STOPWORDS | QUESTION_WORDS)


def test_analyze_removes_stopwords_and_keeps_content() -> None:
    terms = analyze("من التقى رشاد في القاهرة؟")
    assert "رشاد" in terms
    assert not {"من", "في"} & set(terms)
    assert content_tokens("من التقى رشاد؟") == ["التقي", "رشاد"]


def test_english_stopwords_removed() -> None:
    assert analyze("Who did Hassan Rashad meet in the city?") == ["hassan", "rashad", "meet", "city"]


def test_stemming() -> None:
    assert stem("المكتبات") == "مكتب"
    assert analyze("المكتبات")[0] == "مكتب"
    # Latin and digits are not stemmed
    assert stem("meetings") == "meetings"
    assert stem("2024") == "2024"


def test_stem_is_thread_safe() -> None:
    words = sorted({token for path in SEED_CORPUS.rglob("*.txt") for token in tokenize(path.read_text(encoding="utf-8"))
                    if "\u0600" <= token[0] <= "\u06ff"})
    expected = {word: stem.__wrapped__(word) for word in words}  # one thread, the cache bypassed
    stem.cache_clear()  # every word below is stemmed, not looked up
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can: a race shows in every run
    try:
        with ThreadPoolExecutor(4) as pool:
            parts = list(pool.map(lambda part: [(word, stem(word)) for word in part], [words[i::4] for i in range(4)]))
    finally:
        sys.setswitchinterval(interval)
        stem.cache_clear()
    assert len(words) > 500
    assert dict(pair for part in parts for pair in part) == expected


def test_analyze_adds_unstemmed_surface_terms() -> None:
    # each stem is followed by "=surface" when they differ, so an exact word outscores a shared stem
    assert analyze("المكتبات") == ["مكتب", "=المكتبات"]
    assert analyze("من التقى رشاد؟") == ["التق", "=التقي", "رشاد"]
    # an unchanged token (already a stem) has no surface twin
    assert "=رشاد" not in analyze("رشاد")


def test_analyze_is_insensitive_to_diacritics_and_letter_forms() -> None:
    assert analyze("مُحَمَّدٌ التقى بإسرائيل") == analyze("محمد التقي باسرائيل")
    assert analyze("٢٠٢٤") == analyze("2024") == ["2024"]


def test_analyzer_version_is_a_string() -> None:
    assert isinstance(ANALYZER_VERSION, str) and ANALYZER_VERSION


# --- sentence spans ------------------------------------------------------------------------


def test_sentence_spans_arabic_and_latin_ends() -> None:
    text = "قال الرئيس إن الاتفاق صامد. هل سيستمر؟ نعم! It held. Did it?"
    assert sentences(text) == ["قال الرئيس إن الاتفاق صامد.", "هل سيستمر؟", "نعم!", "It held.", "Did it?"]


def test_sentence_spans_newlines_end_sentences() -> None:
    text = "العنوان بلا نقطة\n\nالفقرة الأولى. الثانية\r\nالسطر الأخير"
    assert sentences(text) == ["العنوان بلا نقطة", "الفقرة الأولى.", "الثانية", "السطر الأخير"]


def test_sentence_spans_do_not_split_decimals() -> None:
    text = "ارتفع المؤشر 3.5 بالمئة. وبلغ 12.75 نقطة"
    assert sentences(text) == ["ارتفع المؤشر 3.5 بالمئة.", "وبلغ 12.75 نقطة"]


def test_arabic_semicolon_and_comma_do_not_end_a_sentence() -> None:
    text = "ارتفعت الأسعار؛ لذلك احتج السكان، وطالبوا بالدعم."
    assert sentences(text) == [text]


def test_sentence_spans_keep_closing_quotes() -> None:
    text = "قال: «انتهى الأمر.» ثم غادر."
    assert sentences(text) == ["قال: «انتهى الأمر.»", "ثم غادر."]


@pytest.mark.parametrize("text", ["", " ", "\n\n", " \t\r\n ", "...", "؟!"])
def test_sentence_spans_of_nothing(text: str) -> None:
    assert sentence_spans(text) == []


# --- properties over arbitrary text ----------------------------------------------------------

ARABIC = st.characters(min_codepoint=0x0600, max_codepoint=0x06FF)
ARABIC_SUPPLEMENT = st.characters(min_codepoint=0x0750, max_codepoint=0x08FF)
PRESENTATION_FORMS = st.one_of(
    st.characters(min_codepoint=0xFB50, max_codepoint=0xFDFF),
    st.characters(min_codepoint=0xFE70, max_codepoint=0xFEFF),
)
# pieces (some longer than one character: emoji sequences, "3.5") joined into a text
SPECIAL = st.sampled_from(
    list(
        "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670\u0640"  # tashkeel, tatweel
        "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c\ufeff"  # ZW, bidi
        "\x00\x07\x1b\x7f\u0085\u2028\u2029"  # controls, separators
        " \t\n\r.؟?!،؛…«»\"'"
        "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹0123456789"
    )
    + ["😀", "👍🏽", "🇪🇬", "👨‍👩‍👧", "3.5", "İ", "ß", "ﷺ", "ﻻ"]
)
ANY_TEXT = st.lists(st.one_of(ARABIC, ARABIC_SUPPLEMENT, PRESENTATION_FORMS, SPECIAL, st.characters()), max_size=80).map(
    "".join
)
LONG_TEXT = st.builds(lambda part, n: part * n, st.lists(st.one_of(ARABIC, SPECIAL), min_size=1, max_size=40).map("".join),
                      st.integers(50, 400))
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.one_of(ANY_TEXT, LONG_TEXT))
def test_normalize_is_total_and_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@FUZZ
@given(st.one_of(ANY_TEXT, LONG_TEXT))
def test_tokenize_and_analyze_never_raise(text: str) -> None:
    tokens = tokenize(text)
    assert all(tokens) and all(t == normalize(t) for t in tokens)
    terms = analyze(text)
    assert all(isinstance(t, str) and t for t in terms)
    assert not set(content_tokens(text)) & STOPWORDS  # (a stem may still equal a stopword)
    assert all(term[1:] in tokens for term in terms if term.startswith("="))


@FUZZ
@given(st.one_of(ANY_TEXT, LONG_TEXT))
def test_sentence_spans_are_ordered_stripped_and_in_bounds(text: str) -> None:
    previous_end = 0
    for start, end in sentence_spans(text):
        assert previous_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip()
        assert any(ch.isalnum() for ch in piece)
        previous_end = end


def test_the_compiled_stemmer_is_used_and_stems_as_the_python_one() -> None:
    # PyStemmer (a dependency) makes snowballstemmer hand its work to the compiled Snowball; the stems of
    # every word of the seed articles and of XQuAD-ar's paragraphs must be those of the pure-Python stemmer
    import json

    import Stemmer
    from conftest import ROOT
    from snowballstemmer.arabic_stemmer import ArabicStemmer

    from retrieval.text import arabic

    assert isinstance(arabic._stemmer(), Stemmer.Stemmer)  # noqa: SLF001
    texts = [p.read_text(encoding="utf-8") for p in SEED_CORPUS.iterdir()]
    xquad = ROOT.parent / "shared/data/xquad/xquad.ar.json"  # where it is beside the repository
    if xquad.is_file():
        data = json.loads(xquad.read_text(encoding="utf-8"))["data"]
        texts += [paragraph["context"] for article in data for paragraph in article["paragraphs"]]
    words = sorted({w for text in texts for w in tokenize(text) if "\u0600" <= w[0] <= "\u06ff"})
    assert len(words) > 1_000
    python = ArabicStemmer()
    assert [arabic._stemmer().stemWord(w) for w in words] == [python.stemWord(w) for w in words]  # noqa: SLF001
