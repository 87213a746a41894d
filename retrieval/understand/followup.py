"""Follow-up resolution: a question that leans on earlier turns borrows their key terms."""

from __future__ import annotations

import re

from retrieval.models import Conversation, Turn
from retrieval.text.arabic import QUESTION_WORDS, STOPWORDS, tokenize

# pronouns and demonstratives that may point back ("that", "them", "he" ...): a short question
# holding one leans on context ("من هو ..." is a copula, and هو is a stopword, so not counted)
_ANAPHORA = frozenset(
    "ذاك هذا هذه هو هي هم هما منهم منها منه عنه عنها عليه فيه فيها معه معهم له لها لهم اللقاء الاجتماع "
    "it that this they them he she his her its there then".split()
)
# words that always point back, whatever the length of the question ("after that", "also")
_BACK = frozenset("ذلك تلك ايضا also".split())
# attached pronoun suffixes on verbs and prepositions: التقاه, قابلها, لقائه, معهم
_SUFFIX = re.compile(r"(ه|ها|هم|هما)$")
SHORT_QUESTION = 3  # content words; at most this many and the question leans on context


def needs_context(question: str) -> bool:
    """True when ``question`` cannot stand on its own: it starts with the conjunction and a
    function word ("ومتى", "وكم", "ومع من", "وفي أي", "and ..."), says "that"/"also", refers back
    with a pronoun in a short question, or has almost no content words."""
    tokens = tokenize(question)
    if not tokens:
        return False
    first = tokens[0]
    if first == "و" or (first.startswith("و") and first[1:] in STOPWORDS) or first in ("and", "so") \
            or tokens[:2] in (["what", "about"], ["how", "about"]):
        return True
    if any(t in _BACK for t in tokens):
        return True
    # normalisation writes ة as ه: the same words with ة kept apart, so القاهرة is not "القاهر+ه"
    marked = tokenize(question.replace("ة", "ت"))
    if len(marked) != len(tokens):
        marked = tokens
    content = [(t, m) for t, m in zip(tokens, marked) if t not in STOPWORDS and t not in QUESTION_WORDS]
    refers_back = any(t in _ANAPHORA or (len(t) > 4 and _SUFFIX.search(m) and t[:-1] not in STOPWORDS)
                      for t, m in content)
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
