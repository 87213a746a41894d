"""Follow-up questions: which need the earlier turns, how they are resolved, and a Conversation
end to end through the real pipeline on the seed corpus."""

from __future__ import annotations

import pytest

from retrieval.models import Conversation, Turn
from retrieval.pipeline import Pipeline
from retrieval.understand.followup import make_turn, needs_context, resolve

FOLLOW_UPS = [
    "ومتى كان ذلك؟",
    "وأين التقاه؟",
    "وكم منهم أميركيون؟",
    "كم منهم أميركيون؟",  # no conjunction, but "of them"
    "وكم تستغرق زيارته؟",
    "ومن حضر أيضا؟",
    "ومع من اجتمع في المطار؟",  # conjunction + preposition
    "وفي أي مدينة حذّرا من تصعيد العمليات؟",
    "وعلى أي بحر يقع؟",
    "وإلى أين توجه بعد ذلك؟",
    "أين التقاه؟",
    "متى؟",
    "ما هذا؟",
    "And on which day?",
    "When?",
    "Where did they meet?",
]
SELF_CONTAINED = [
    "كم عدد المحتجزين لدى حماس في غزة؟",
    "من التقى رشاد في القدس؟",
    "من التقى بلينكن في القاهرة؟",  # القاهرة ends in ة, not in a pronoun suffix
    "من هو نائب الرئيس الأميركي الذي وصل إلى إسرائيل؟",  # "من هو" is "who is", not "he"
    "ما هي عاصمة اليابان؟",
    "ما ترتيب زيارة بلينكن هذه إلى المنطقة منذ اندلاع الحرب؟",
    "متى أعلن بايدن مقترح وقف إطلاق النار الذي يسعى بلينكن لحشد الدعم له؟",
    "كم شخصا قتل في هجوم 7 أكتوبر على جنوب إسرائيل؟",
    "وزير الخارجية المصري التقى من؟",  # starts with و as a root letter, not the conjunction
    "Who did Blinken meet in Cairo?",
    "What is the population of Jerusalem?",
    "Who is the CIA director that met President Sisi?",
]


@pytest.mark.parametrize("question", FOLLOW_UPS)
def test_follow_ups_need_context(question: str) -> None:
    assert needs_context(question)


@pytest.mark.parametrize("question", SELF_CONTAINED)
def test_self_contained_questions_do_not(question: str) -> None:
    assert not needs_context(question)


@pytest.mark.parametrize("question", ["", "   ", "؟؟", "..."])
def test_no_words_needs_no_context(question: str) -> None:
    assert not needs_context(question)


def _conversation() -> Conversation:
    conversation = Conversation()
    conversation.add(make_turn("من التقى رشاد في القدس؟", "من التقى رشاد في القدس؟", ["000_bfedeb9d58756a4b"], "..."))
    return conversation


def test_resolve_prepends_the_previous_question_to_a_follow_up() -> None:
    resolved, prefer = resolve("ومتى كان ذلك؟", _conversation())
    assert resolved == "من التقى رشاد في القدس؟ ومتى كان ذلك؟"
    assert prefer == ["000_bfedeb9d58756a4b"]


def test_resolve_leaves_self_contained_questions_and_empty_conversations_alone() -> None:
    question = "كم عدد المحتجزين لدى حماس في غزة؟"
    assert resolve(question, _conversation()) == (question, [])
    assert resolve("ومتى كان ذلك؟", Conversation()) == ("ومتى كان ذلك؟", [])
    assert resolve("ومتى كان ذلك؟", None) == ("ومتى كان ذلك؟", [])


def test_make_turn_keeps_a_bounded_answer_text() -> None:
    turn = make_turn("q", "r", ["a"], "x" * 5000)
    assert (turn.question, turn.resolved_question, turn.doc_ids) == ("q", "r", ["a"])
    assert len(turn.answer_text) == 1000


def test_a_follow_up_is_answered_from_the_earlier_turn(seed_pipeline: Pipeline) -> None:
    conversation = Conversation()
    first = seed_pipeline.answer("من التقى رشاد في القدس؟", conversation)
    assert "نتنياهو" in first.text
    follow = seed_pipeline.answer("ومتى كان ذلك؟", conversation)
    assert follow.question == "ومتى كان ذلك؟"
    assert follow.resolved_question == "من التقى رشاد في القدس؟ ومتى كان ذلك؟"
    assert not follow.abstained
    assert "الثلاثاء" in follow.text
    # the article of the first answer is cited again
    assert "000_bfedeb9d58756a4b" in {source.doc_id for source in follow.sources}

    # a new self-contained question is not polluted by the old topic
    question = "كم عدد المحتجزين لدى حماس في غزة؟"
    fresh = seed_pipeline.answer(question, conversation)
    assert fresh.resolved_question == question
    assert "101" in fresh.text
    assert fresh.passages == seed_pipeline.answer(question).passages  # same retrieval as without history
    # nor is one whose last word ends in ة (القاهرة once read as "القاهر" + the pronoun ه)
    blinken = seed_pipeline.answer("من التقى بلينكن في القاهرة؟", conversation)
    assert blinken.resolved_question == "من التقى بلينكن في القاهرة؟"
    assert "السيسي" in blinken.text
    assert [t.question for t in conversation.turns] == ["من التقى رشاد في القدس؟", "ومتى كان ذلك؟", question,
                                                        "من التقى بلينكن في القاهرة؟"]


def test_the_same_follow_up_without_a_conversation_stands_alone(seed_pipeline: Pipeline) -> None:
    answer = seed_pipeline.answer("ومتى كان ذلك؟")
    assert answer.resolved_question == "ومتى كان ذلك؟"


def test_a_conversation_keeps_at_most_max_turns(seed_pipeline: Pipeline) -> None:
    conversation = Conversation(max_turns=2)
    questions = ["من التقى رشاد في القدس؟", "ومتى كان ذلك؟", "كم عدد المحتجزين لدى حماس في غزة؟"]
    for question in questions:
        seed_pipeline.answer(question, conversation)
    assert [turn.question for turn in conversation.turns] == questions[1:]
    # a Conversation filled by hand obeys the same bound
    manual = Conversation(max_turns=3)
    for n in range(10):
        manual.add(Turn(question=str(n), resolved_question=str(n)))
    assert [turn.question for turn in manual.turns] == ["7", "8", "9"]


def test_a_conversation_round_trips_through_json(seed_pipeline: Pipeline) -> None:
    conversation = Conversation(max_turns=4)
    seed_pipeline.answer("من التقى رشاد في القدس؟", conversation)
    restored = Conversation.model_validate_json(conversation.model_dump_json())
    assert restored == conversation
    assert restored.max_turns == 4
    turn = restored.turns[0]
    assert turn.doc_ids and "000_bfedeb9d58756a4b" in turn.doc_ids
    assert "نتنياهو" in turn.answer_text
    # the restored conversation resolves a follow-up exactly as the original
    assert resolve("ومتى كان ذلك؟", restored) == resolve("ومتى كان ذلك؟", conversation)
    assert "الثلاثاء" in seed_pipeline.answer("ومتى كان ذلك؟", restored).text
