"""Greetings, thanks and goodbyes: answered as a person would, never searched.

A chat's first message is often "السلام عليكم" or "hi", and its last "شكراً". Searched as questions, they got
excerpts of the articles, some shown as sure ("thanks" -> a sentence about Witkoff). ``small_talk(text)``
tells such a message (the whole of it, in Arabic, its dialects, or English: "السلام عليكم ورحمة الله",
"مرحبا", "صباح الخير", "شكرا جزيلا", "تسلم", "hi", "thank you", "salam"; or a bare "ok", "تمام", "نعم", "lol",
"test", which got sure answers too: "نعم" is a word of the articles) and returns its kind: the reply is in
retrieval/answer/catalog/. ``without_greeting(text)`` drops a greeting that opens a question
("مرحبا، من التقى رشاد؟" -> "من التقى رشاد؟") or thanks that open a follow-up ("شكرا، ومتى كان ذلك؟"),
so the question is searched (and read as a follow-up) without it.
"""

from __future__ import annotations

import re

from retrieval.text.arabic import normalize, tokenize

_PHRASES = {
    "salam": """
        السلام عليكم | السلام عليكم ورحمة الله | السلام عليكم ورحمة الله وبركاته | سلام عليكم | السلام عليكم جميعا
        salam | salam alaikum | salam alaykum | assalamu alaikum | asalamu alaikum | as salamu alaikum
    """,
    "greeting": """
        مرحبا | مرحبا بك | مرحبتين | اهلا | اهلا وسهلا | اهلا بك | اهلين | هلا | هلا والله | هاي | سلام
        صباح الخير | مساء الخير | صباح النور | مساء النور | كيف حالك | كيفك | ازيك | ازيك عامل ايه | شلونك
        hi | hello | hey | hi there | hello there | hey there | good morning | good afternoon | good evening
        how are you | marhaba | ahlan | ahlan wa sahlan
    """,
    "thanks": """
        شكرا | شكرا جزيلا | شكرا لك | شكرا ليك | شكرا كثيرا | الف شكر | مشكور | مشكورين | تسلم | تسلم ايدك
        يعطيك العافيه | متشكر | متشكرين | جزاك الله خيرا | بارك الله فيك
        thanks | thank you | thanks a lot | thank you very much | many thanks | thx | ty | shukran | merci
    """,
    "ack": """
        تمام | طيب | حسنا | اوكي | اوك | ماشي | نعم | ايوه | ايوا | اه | لا | لا شكرا | ممتاز | جميل | رائع | هههه | ههههه
        ok | okay | k | yes | yeah | yep | no | nope | cool | great | nice | good | lol | haha | hmm | test | testing
    """,
    "goodbye": """
        مع السلامه | الي اللقاء | في امان الله | باي | تصبح علي خير
        bye | goodbye | bye bye | see you | good night
    """,
}
_KINDS = {normalize(phrase.strip()): kind for kind, text in _PHRASES.items()
          for phrase in text.replace("\n", "|").split("|") if phrase.strip()}
_KINDS = {" ".join(tokenize(phrase)): kind for phrase, kind in _KINDS.items()}
_LONGEST = max(len(phrase.split()) for phrase in _KINDS)
_REPEATS = re.compile(r"(.)\1{2,}")  # "hiii", "شكراااا": a letter held down
_LEAD = re.compile(r"^[\s\W_]+")


def _tokens(text: str) -> list[str]:
    return tokenize(_REPEATS.sub(r"\1", normalize(text)))


def small_talk(text: str) -> str | None:
    """"salam", "greeting", "thanks", "ack" or "goodbye" when the whole of ``text`` is one; None for anything else."""
    tokens = _tokens(text)
    return _KINDS.get(" ".join(tokens)) if 0 < len(tokens) <= _LONGEST else None


# a greeting word that may also start a question ("سلام الشجعان", "هلا تحدثت ..."): dropped only when a
# comma, a full stop or an exclamation mark closes it
_AMBIGUOUS = frozenset(("سلام", "هلا", "هاي", "salam", "ty"))


def without_greeting(text: str) -> str:
    """``text`` less a greeting or thanks that opens it ("مرحبا، من التقى رشاد؟" -> "من التقى رشاد؟",
    "شكرا، ومتى كان ذلك؟" -> "ومتى كان ذلك؟"); as it was when it does not open with one, or is nothing but one."""
    tokens = _tokens(text)
    for size in range(min(_LONGEST, len(tokens) - 1), 0, -1):
        phrase = " ".join(tokens[:size])
        if _KINDS.get(phrase) not in ("salam", "greeting", "thanks"):
            continue
        words = text.split()
        for end in range(1, len(words) + 1):  # the fewest of the text's words that hold the phrase
            if len(_tokens(" ".join(words[:end]))) >= size:
                closed = not words[end - 1][-1:].isalnum()  # "مرحبا،" "Hi!" (a letter with marks counts as open)
                if phrase in _AMBIGUOUS and not closed:
                    return text
                rest = _LEAD.sub("", " ".join(words[end:]))
                return rest if rest and tokenize(rest) else text
    return text
