"""One rule per behaviour, on the real seed index: the question check every front end uses
(refused, never cut), unknown modes raise everywhere, and "more" is paged by the Answer."""

from __future__ import annotations

import pytest

from retrieval.answer.catalog import word
from retrieval.errors import UnknownBackend
from retrieval.models import Conversation
from retrieval.search.retriever import MODES
from retrieval.understand.checks import check_mode, check_question

QUESTION = "من التقى رشاد؟"
LIMIT = 1000


@pytest.mark.parametrize(
    ("question", "reason", "message"),
    [
        ("", "empty", word("question.empty")),
        ("  \n\t ", "empty", word("question.empty")),
        ("😀🎉👍", "no_words", word("question.no_words")),
        ("؟؟؟ ... !!!", "no_words", word("question.no_words")),
        ("رشاد " * 300, "too_long", word("question.too_long").format(size=1499, limit=LIMIT)),
        ("؟" * 1001, "too_long", word("question.too_long").format(size=1001, limit=LIMIT)),
    ],
)
def test_refusals_say_why(question: str, reason: str, message: str) -> None:
    refusal = check_question(question, LIMIT)
    assert refusal is not None and (refusal.reason, refusal.message) == (reason, message)


def test_the_limit_counts_trimmed_characters_and_is_inclusive() -> None:
    at_limit = " " + "ر" * LIMIT + "\n"
    assert check_question(at_limit, LIMIT) is None
    assert check_question(at_limit + "ر", LIMIT).reason == "too_long"
    assert check_question("Who met Rashad?", LIMIT) is None


def test_a_long_question_is_refused_by_the_pipeline_not_cut(seed_pipeline) -> None:
    # the first 1,000 characters alone would be answered: a cut would hide the refusal
    question = QUESTION + " " + "رشاد " * 250
    assert len(question.strip()) > seed_pipeline.settings.understand.max_question_chars
    assert not seed_pipeline.answer(question.strip()[:1000]).abstained
    conversation = Conversation()
    answer = seed_pipeline.answer(question, conversation)
    expected = word("question.too_long").format(size=len(question.strip()), limit=seed_pipeline.settings.understand.max_question_chars)
    assert answer.refused == "too_long" and answer.abstained
    assert answer.message == expected == check_question(question, seed_pipeline.settings.understand.max_question_chars).message
    assert answer.question == question.strip()  # kept whole
    assert answer.excerpts == [] and answer.passages == [] and answer.text == expected
    assert conversation.turns == []  # a refused question is not a turn


def test_an_answered_question_is_not_marked_refused(seed_pipeline) -> None:
    answer = seed_pipeline.answer(QUESTION)
    assert answer.refused is None and answer.excerpts
    assert check_question(QUESTION, seed_pipeline.settings.understand.max_question_chars) is None


@pytest.mark.parametrize("mode", ["nonsense", "HYBRID", "bm-25"])
def test_an_unknown_mode_raises_everywhere(seed_pipeline, mode: str) -> None:
    for ask in (
        lambda: seed_pipeline.answer(QUESTION, mode=mode),
        lambda: seed_pipeline.answer("", mode=mode),  # before any other check
        lambda: seed_pipeline.retriever.search(QUESTION, mode=mode),
        lambda: check_mode(mode),
    ):
        with pytest.raises(UnknownBackend) as error:
            ask()
        assert repr(mode) in str(error.value) and all(name in str(error.value) for name in MODES)


@pytest.mark.parametrize("mode", MODES)
def test_every_known_mode_is_accepted(seed_pipeline, mode: str) -> None:
    assert check_mode(mode) == mode
    assert seed_pipeline.answer(QUESTION, mode=mode, k=3).mode == mode


@pytest.mark.parametrize("size", [1, 2, 5])
def test_more_is_paged_in_order_until_nothing_is_held_back(seed_pipeline, size: int) -> None:
    answer = seed_pipeline.answer(QUESTION)
    held_back = answer.more
    assert len(held_back) >= 2  # the seed question has more than one page at size 1
    pages, page = [], answer.next_page(size)
    while page is not None:
        assert 1 <= len(page.excerpts) <= size
        assert page.sources == answer.sources and page.question == answer.question
        pages.append(page)
        page = page.next_page(size)
    assert [e for p in pages for e in p.excerpts] == held_back
    assert len(pages) == -(-len(held_back) // size)
    assert pages[-1].more == [] and answer.more == held_back  # paging never changes the answer it reads


def test_an_answer_without_more_has_no_page(seed_pipeline) -> None:
    refused = seed_pipeline.answer("")
    assert refused.refused == "empty" and refused.next_page(5) is None
