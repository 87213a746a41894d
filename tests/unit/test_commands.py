"""The command parsing both front ends share (bot/commands.py), and the one service entry a refusal comes back from."""

from __future__ import annotations

from bot.commands import MORE, NEW, QUIT, SINCE, Command, more_data, more_key, parse_command, parse_date_command
from retrieval.models import Answer, Conversation, Decision
from retrieval.service import Session, ask


def test_the_repl_and_telegram_read_the_same_commands() -> None:
    assert parse_command(":new", ":") == Command(NEW) == parse_command("/new", "/")
    assert parse_command(":more", ":").name == MORE
    assert parse_command("/NEW@NewsBot", "/") == Command(NEW, "", "NewsBot")
    assert parse_command(":since مارس 2018 ", ":") == Command(SINCE, "مارس 2018")
    assert parse_command("/since@bot 2018", "/") == Command(SINCE, "2018", "bot")
    assert all(parse_command(f":{word}", ":").name == QUIT for word in ("quit", "q", "exit"))
    assert parse_command("من التقى رشاد؟", ":") is None and parse_command("من التقى رشاد؟", "/") is None
    assert parse_command(":", ":") == Command("")  # an unknown command, not a question


def test_the_more_button_data_round_trips() -> None:
    assert more_key(more_data("abc123")) == "abc123"
    assert more_key("vote:u:abc") is None and more_key(None) is None


def test_date_values() -> None:
    assert parse_date_command("off").off and parse_date_command("إلغاء").off
    assert parse_date_command("2018-03-01").frame is not None
    assert not parse_date_command("soon").valid


class _Refusing:
    """A pipeline stub: what ask() hands on, and the refused answer Pipeline.answer gives an empty text."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def answer(self, question, conversation=None, **options) -> Answer:
        self.calls.append((question, conversation, options))
        answer = Answer(question=question, resolved_question=question, message_id="question.empty")
        answer.decide(Decision.REFUSED, "empty")
        return answer


def test_a_refusal_comes_back_from_ask_as_an_answer() -> None:
    pipeline, session = _Refusing(), Session(conversation=Conversation(), k=3, mode="bm25")
    answer = ask(pipeline, "", session)
    assert answer.decision is Decision.REFUSED and answer.refused == "empty" and answer.message
    assert session.last is answer
    [(question, conversation, options)] = pipeline.calls
    assert question == "" and conversation is session.conversation and options["k"] == 3 and options["mode"] == "bm25"
