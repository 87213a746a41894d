"""Typos in questions (retrieval/understand/spelling.py): corrected to the seed index's words one edit away, real words
and short words left alone, the shipped lexicon read (and a damaged one refused politely), and the answers
on the seed index with the correction on and off."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest
from test_render import parse

from bot.render import answer_data, render_telegram, render_terminal
from retrieval.answer.catalog import corrections_line
from retrieval.pipeline import Pipeline
from retrieval.understand.spelling import LEXICON, Speller, build_lexicon, lexicon


@pytest.fixture(scope="module")
def speller(seed_pipeline: Pipeline) -> Speller:
    return seed_pipeline.index.lexicon.speller


@pytest.mark.parametrize(("typed", "meant"), [
    ("المخابرت", "المخابرات"),  # a letter dropped
    ("ويتكف", "ويتكوف"),  # a name the 2018 archive never wrote: only the index knows it
    ("بلنكن", "بلينكن"),
    ("المفاوضلت", "المفاوضات"),  # a letter changed
    ("الاستخبجرات", "الاستخبارات"),
    ("المحاثدات", "المحادثات"),  # two letters swapped
])
def test_a_misspelt_word_becomes_the_index_word_one_edit_away(speller: Speller, typed: str, meant: str) -> None:
    assert speller.suggestion(typed) == meant
    assert speller.correct(f"من حضر {typed} في القاهرة؟") == f"من حضر {meant} في القاهرة؟"  # the rest as written


@pytest.mark.parametrize("question", [
    "ما هو موقف روسيا من اتفاق وقف إطلاق النار في غزة؟",  # a real word the articles do not hold: still unknown to them
    "أي وكالة أنباء نقلت الخبر؟",  # أنباء is a word (the lexicon), not a typo of انهاء
    "في أي بلد دخل وقف إطلاق النار حيز التنفيذ قبيل إرسال الوفد؟",
    "من التقى رشاد؟",  # every word known
    "من هو رئس الموساد؟",  # four letters: too many neighbours to guess
    "Who met Rashad in Jerusalem?",
])
def test_words_that_are_words_and_short_words_are_left_as_typed(speller: Speller, question: str) -> None:
    assert speller.correct(question) == question


def test_the_shipped_lexicon_holds_the_archive_words(speller: Speller) -> None:
    words = lexicon()
    assert len(words) > 200_000 and {"انباء", "ارسال", "روسيا", "القاهره"} <= words
    assert "المخابرت" not in words and speller.enabled


def test_a_damaged_lexicon_turns_the_correction_off_with_a_warning(tmp_path: Path, seed_pipeline: Pipeline, caplog) -> None:
    damaged = tmp_path / "words.txt.gz"
    damaged.write_bytes(gzip.compress("المخابرات\n".encode())[:-6])  # cut short
    with caplog.at_level(logging.WARNING, logger="retrieval.understand.spelling"):
        words = lexicon(damaged)
    assert words == frozenset() and "cannot be read" in caplog.text and str(damaged) in caplog.text
    off = Speller(seed_pipeline.index.backend.term_frequencies(), words)
    assert not off.enabled and off.correct("من حضر المخابرت؟") == "من حضر المخابرت؟"
    assert lexicon(LEXICON)  # the shipped file is read as before (its cache is its own)


def test_the_lexicon_is_rebuilt_byte_for_byte(tmp_path: Path) -> None:
    texts = ["التقى رئيس المخابرات المصرية", "رئيس المخابرات", "رئيس الوزراء"]
    first, second = tmp_path / "a.txt.gz", tmp_path / "b.txt.gz"
    assert build_lexicon(texts, first, min_count=2) == 2
    build_lexicon(texts, second, min_count=2)
    assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(first.read_bytes()).decode() == "المخابرات\nرييس\n"  # normalised, sorted
    lexicon.cache_clear()


def test_a_question_with_a_typo_is_answered_as_its_clean_twin(seed_pipeline: Pipeline) -> None:
    typed = "في أي مدينة استقبل مدير جهاز المخابرت العامة المصرية ستيف ويتكف؟"
    answer = seed_pipeline.answer(typed)
    assert answer.question == typed  # the user's words are kept; what was searched is the resolved question
    assert "المخابرات" in answer.resolved_question and "ويتكوف" in answer.resolved_question
    clean = seed_pipeline.answer("في أي مدينة استقبل مدير جهاز المخابرات العامة المصرية ستيف ويتكوف؟")
    assert [(e.doc_id, e.start) for e in answer.excerpts] == [(e.doc_id, e.start) for e in clean.excerpts]
    assert "القاهرة" in answer.text and not answer.abstained


def test_the_answer_says_what_it_corrected_once(seed_pipeline: Pipeline) -> None:
    typed = "في أي مدينة استقبل مدير جهاز المخابرت العامة المصرية ستيف ويتكف؟"
    answer = seed_pipeline.answer(typed)
    assert answer.corrected == [("المخابرت", "المخابرات"), ("ويتكف", "ويتكوف")]
    line = "صحّحت الإملاء: المخابرت ← المخابرات، ويتكف ← ويتكوف"
    assert corrections_line(answer.corrected, "ar") == line
    assert render_terminal(answer).splitlines()[0] == line
    assert "".join(parse("".join(render_telegram(answer))).text).startswith(line)
    assert answer_data(answer)["corrected"] == [["المخابرت", "المخابرات"], ["ويتكف", "ويتكوف"]]
    page = answer.next_page(1)
    assert page is not None and page.corrected == [] and line not in render_terminal(page)  # said once
    clean = seed_pipeline.answer("من التقى رشاد؟")
    assert clean.corrected == [] and "صحّحت" not in render_terminal(clean)


def test_spelling_off_searches_the_question_as_typed(seed_pipeline: Pipeline) -> None:
    typed = "في أي مدينة استقبل مدير جهاز المخابرت العامة المصرية ستيف ويتكف؟"
    as_typed = Pipeline(seed_pipeline.settings.with_(spelling=False), seed_pipeline.index,
                        seed_pipeline.embedder, seed_pipeline.reader)
    assert as_typed.answer(typed).resolved_question == typed
