"""Greetings, thanks and goodbyes (retrieval/understand/smalltalk.py): answered in kind and in the user's language,
never searched; a greeting or thanks opening a question is dropped before the search; a conversation goes on
through them. Every question of the eval sets, XQuAD (Arabic and English) and ARCD is left alone."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, SHARED, XQUAD

from retrieval.answer.catalog import word
from retrieval.models import Conversation
from retrieval.pipeline import Pipeline
from retrieval.understand.smalltalk import small_talk, without_greeting


@pytest.mark.parametrize(("text", "kind"), [
    ("السلام عليكم", "salam"), ("السلام عليكم ورحمة الله وبركاته", "salam"), ("salam alaikum", "salam"),
    ("مرحباً!", "greeting"), ("أهلا وسهلا", "greeting"), ("صباح الخير", "greeting"), ("ازيك؟", "greeting"),
    ("hiii", "greeting"), ("Hello there :)", "greeting"),
    ("شكراً جزيلاً 🙏", "thanks"), ("تسلم ايدك", "thanks"), ("Thank you!", "thanks"), ("شكرااااا", "thanks"),
    ("مع السلامة", "goodbye"), ("bye", "goodbye"),
    ("ok", "ack"), ("تمام", "ack"), ("نعم", "ack"), ("lol", "ack"), ("test", "ack"),  # all got sure answers once
])
def test_small_talk_is_told_by_its_kind(text: str, kind: str) -> None:
    assert small_talk(text) == kind


@pytest.mark.parametrize("text", ["من التقى رشاد؟", "سلام الشجعان؟", "شكرا، ومتى كان ذلك؟", "Who met Rashad?", "السلام"])
def test_questions_are_not_small_talk(text: str) -> None:
    assert small_talk(text) is None


@pytest.mark.parametrize(("text", "question"), [
    ("مرحبا، من التقى رشاد؟", "من التقى رشاد؟"),
    ("السلام عليكم مين قابل رشاد؟", "مين قابل رشاد؟"),
    ("Hi! who met Rashad?", "who met Rashad?"),
    ("شكرا، ومتى كان ذلك؟", "ومتى كان ذلك؟"),
    ("سلام، من التقى رشاد؟", "من التقى رشاد؟"),
    ("سلام الشجعان؟", "سلام الشجعان؟"),  # an ambiguous greeting word is dropped only when punctuation closes it
    ("هلا تحدثت عن غزة؟", "هلا تحدثت عن غزة؟"),
    ("مرحبا", "مرحبا"),  # nothing after it: small talk, not a question
])
def test_a_greeting_opening_a_question_is_dropped(text: str, question: str) -> None:
    assert without_greeting(text) == question


def test_no_question_of_the_eval_sets_xquad_or_arcd_is_taken_for_small_talk() -> None:
    questions = [json.loads(line)["question"] for name in ("seed_qa", "unanswerable", "dialect_qa", "dialect_unanswerable")
                 for line in (ROOT / "eval" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    if XQUAD.is_file():
        for path in (XQUAD, SHARED / "data" / "xquad" / "other-languages" / "xquad.en.json", SHARED / "data" / "arcd" / "arcd-train.json"):
            data = json.loads(path.read_text(encoding="utf-8"))["data"]
            questions += [q["question"] for article in data for p in article["paragraphs"] for q in p["qas"]]
    assert [q for q in questions if small_talk(q) or without_greeting(q) != q] == []


def test_small_talk_is_answered_in_kind_and_in_the_users_language(seed_pipeline: Pipeline) -> None:
    for text, kind, language in (("السلام عليكم", "salam", "ar"), ("شكراً", "thanks", "ar"), ("hi", "greeting", "en"),
                                 ("thanks!", "thanks", "en")):
        answer = seed_pipeline.answer(text)
        assert answer.refused == "small_talk" and answer.passages == [] and answer.excerpts == []
        assert answer.message == word(f"small_talk.{kind}", language) and answer.language == language
    assert seed_pipeline.answer("السلام عليكم").message.startswith("وعليكم السلام")


def test_a_conversation_goes_on_through_thanks_and_a_greeting(seed_pipeline: Pipeline) -> None:
    conversation = Conversation()
    assert "نتنياهو" in seed_pipeline.answer("مرحبا، من التقى رشاد في القدس؟", conversation).text
    assert seed_pipeline.answer("شكرا", conversation).refused == "small_talk"
    assert len(conversation.turns) == 1  # small talk is not a turn
    assert "الثلاثاء" in seed_pipeline.answer("شكرا، ومتى كان ذلك؟", conversation).text


@pytest.mark.parametrize("text", ["asdfgh", "news", "qwerty!"])
def test_latin_input_with_nothing_to_read_is_not_answered(seed_pipeline: Pipeline, text: str) -> None:
    """No question word, under two words that are not stopwords, no name the articles spell: the answerability
    model (fitted on questions) read "news" as answerable (0.73) and showed random excerpts as sure."""
    answer = seed_pipeline.answer(text)
    assert answer.abstained and answer.confidence == 0.0 and answer.excerpts == []


@pytest.mark.parametrize("text", ["What is septicemia?", "Rashad?"])
def test_short_latin_questions_that_ask_or_name_are_read_as_before(seed_pipeline: Pipeline, text: str) -> None:
    answer = seed_pipeline.answer(text)
    assert answer.confidence is not None and answer.confidence > 0.0  # the model's own probability
    assert not seed_pipeline.answer("Rashad?").abstained
