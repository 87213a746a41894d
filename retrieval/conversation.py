"""Follow-up resolution: a question that leans on earlier turns borrows their key terms."""

from __future__ import annotations

import re

from retrieval.arabic import QUESTION_WORDS, STOPWORDS, tokenize
from retrieval.models import Conversation, Turn

# words that point back to something said before ("that", "them", "he", "also" ...)
_ANAPHORA = frozenset(
    "ذلك ذاك تلك هذا هذه هو هي هم هما منهم منها منه عنه عنها عليه فيه فيها معه معهم له لها لهم ايضا اللقاء الاجتماع "
    "it that this they them he she his her its also there then".split()
)
# attached pronoun suffixes on verbs and prepositions: التقاه, قابلها, لقائه, معهم
_SUFFIX = re.compile(r"(ه|ها|هم|هما)$")
SHORT_QUESTION = 3  # content words; at most this many and the question leans on context


def needs_context(question: str) -> bool:
    """True when ``question`` cannot stand on its own: it starts with a conjunction
    ("و"/"and"), refers back with a pronoun, or has almost no content words."""
    tokens = tokenize(question)
    if not tokens:
        return False
    content = [t for t in tokens if t not in STOPWORDS and t not in QUESTION_WORDS]
    first = tokens[0]
    starts_with_and = (first.startswith("و") and first[1:] in QUESTION_WORDS) or first in ("and", "what", "so")
    refers_back = any(t in _ANAPHORA or (len(t) > 4 and _SUFFIX.search(t) and t[:-1] not in STOPWORDS) for t in content)
    if starts_with_and or any(t in _ANAPHORA for t in tokens):
        return True
    return len(content) <= 1 or (refers_back and len(content) <= SHORT_QUESTION)


def resolve(question: str, conversation: Conversation | None) -> tuple[str, list[str]]:
    """(the question to retrieve with, the doc ids to prefer). Self-contained questions are
    returned unchanged, so old context never pollutes a new topic."""
    if conversation is None or not conversation.turns or not needs_context(question):
        return question, []
    last = conversation.turns[-1]
    return f"{last.resolved_question} {question}", list(last.doc_ids)


def make_turn(question: str, resolved: str, doc_ids: list[str], answer_text: str) -> Turn:
    """The turn remembered for the next question."""
    return Turn(question=question, resolved_question=resolved, doc_ids=doc_ids, answer_text=answer_text[:1000])
