"""Each Understand step on plain strings, without an index: a stub lexicon and calendar."""

from __future__ import annotations

from datetime import date

from retrieval.models import Conversation, Turn
from retrieval.understand.language import question_language
from retrieval.understand.query import QueryKind
from retrieval.understand.understander import Understander


class _Speller:
    def corrected(self, text: str) -> tuple[str, list[tuple[str, str]]]:
        return text.replace("المخابرت", "المخابرات"), [("المخابرت", "المخابرات")] if "المخابرت" in text else []


class _Names:
    def spellings(self, text: str) -> dict[str, list[str]]:
        return {"Rashad": ["رشاد"]} if "Rashad" in text else {}


class _Lexicon:
    speller, names = _Speller(), _Names()


def understand(**steps: bool) -> Understander:
    return Understander(_Lexicon(), lambda: date(2025, 10, 21), lambda frame: True, 1000).with_steps(**steps)


def test_language_is_decided_once_from_the_letters() -> None:
    assert question_language("Who met Rashad?") == "en" and question_language("من التقى رشاد؟") == "ar"
    assert understand()("Who met Rashad?").language == "en"


def test_small_talk_and_refusals_are_not_searched() -> None:
    assert understand()("شكرا").kind is QueryKind.SMALL_TALK
    assert understand()("شكرا").message_id == "small_talk.thanks"
    empty = understand()("  ")
    assert empty.kind is QueryKind.REFUSED and empty.refusal == "empty"
    long = understand()("س" * 1001)
    assert long.refusal == "too_long" and dict(long.message_params) == {"size": 1001, "limit": 1000}
    assert understand(small_talk=False)("شكرا").kind is QueryKind.QUESTION


def test_dialect_step_and_its_switch() -> None:
    assert understand()("مين قابل رشاد؟").standard == "من قابل رشاد؟"
    assert understand(dialect=False)("مين قابل رشاد؟").standard == "مين قابل رشاد؟"


def test_spelling_step_and_its_switch() -> None:
    query = understand()("من التقى رئيس المخابرت؟")
    assert query.corrected == (("المخابرت", "المخابرات"),) and "المخابرات" in query.searched
    assert understand(spelling=False)("من التقى رئيس المخابرت؟").corrected == ()


def test_follow_up_step_borrows_the_last_turn() -> None:
    conversation = Conversation(turns=[Turn(question="من التقى رشاد؟", resolved_question="من التقى رشاد؟", doc_ids=["a"])])
    query = understand()("ومتى كان ذلك؟", conversation)
    assert query.resolved == "من التقى رشاد؟ ومتى كان ذلك؟" and query.prefer == ("a",)
    assert query.question_type == "time"  # typed from the user's own words, not the previous turn's
    assert understand(follow_up=False)("ومتى كان ذلك؟", conversation).resolved == "ومتى كان ذلك؟"


def test_time_step_takes_the_period_out_of_the_searched_text() -> None:
    query = understand()("ماذا حدث لصلاح في مارس 2018؟")
    assert query.dates and query.dates.period.start == date(2018, 3, 1) and "مارس" not in query.searched
    assert understand(time=False)("ماذا حدث لصلاح في مارس 2018؟").dates is None


def test_names_step_and_its_switch() -> None:
    assert understand()("Who did Rashad meet?").name_terms == ["رشاد"]
    assert understand(names=False)("Who did Rashad meet?").names == {}
