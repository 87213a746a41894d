"""Questions asked in spoken Arabic, read in the words of the news.

People write to a chat bot as they speak: Egyptian "مين قابل رشاد؟", "إمتى وصل؟", "راح فين؟", Levantine
"شو اسم ...؟", "وين ...؟", "قديش ...؟", Gulf "وش ...؟", "منو ...؟", Iraqi "شكد ...؟", "شوكت ...؟", Maghrebi
"شكون ...؟", "علاش ...؟", "شحال ...؟", "واش ...؟". The articles are in Modern Standard
Arabic, and the rest of the pipeline reads question words and function words in their standard form: the
question word decides what kind of answer is sought (understand/qtype.py), stopwords are left out of BM25
and of the composer's word features, and a word the index does not know counts against answering at all.
So "مين" was an unknown word, the question had no type, and "مين قابل رشاد؟" was answered "not sure".

``to_standard(question)`` rewrites the dialects' question words, relative pronouns, demonstratives and
time words to their standard equivalents (مين -> من, إمتى -> متى, فين / وين -> أين, قديش / كام -> كم,
شو / إيش / إيه -> ماذا, اللي / يلي -> الذي, امبارح -> أمس ...), a conjunction or preposition before a
question word kept (وإمتى -> ومتى, بمين -> بمن). Every other character stays as written: names, verbs
and the rest are left to the encoder, which reads dialect well enough, and to BM25.

The table holds only words that are not also common standard words in news questions, so these are left
alone: "دي" (J. D. Vance is "جاي دي فانس"), "دول" (countries), "هادي" (calm), "بعد" (Levantine "still",
standard "after"), "الحين" (Gulf "now", standard "منذ ذلك الحين"), "متين" (solid), "إلي" (written for
"إلى"), "هلا" (hello), "أمته" (his nation), "أنهى" (ended: also Egyptian "which"); "شو", "وش", "وين" and
"ليه" count only as the question's first or last word (elsewhere: "جورج برنارد شو", "جون وين", Egyptian
"وش" face); "إيه" and "كام" only as written so (not "أية", "أيه بي سي", "كأم"). Checked against the words
of 6,000 ANT articles and the XQuAD and ARCD paragraphs: what it would change there is dialect quoted in
the news ("اللي", "مش", "ده"), not standard words.
"""

from __future__ import annotations

import re

from retrieval.text.arabic import QUESTION_WORDS, TASHKEEL, normalize

# dialect word (as normalize() writes it) -> its standard form, anywhere in the question
_QUESTION_WORDS = {
    "من": ("مين", "منو", "منهو", "شكون", "اشكون"),
    "متى": ("امتي", "ايمتي", "شوكت", "فوقاش", "وقتاش", "امتاش"),
    "أين": ("فين",),
    "لماذا": ("ليش", "لويش", "علاش"),  # not "لاش": فلاش (flash), بلاش
    "كيف": ("ازاي", "كيفاش"),
    "كم": ("قديش", "قديه", "اديش", "شحال", "قداش", "شكد"),
    "ماذا": ("ايش", "شنو", "شنهو", "وشو", "اشنو", "شنوه"),
}
_OTHER_WORDS = {
    "الذي": ("اللي", "يلي", "يللي"),  # not "يلي" after ما / فيما / كما (standard "follows"): _FOLLOWS
    "هذا": ("ده", "هاد", "هادا", "هيدا"),  # not "هدا": "هدأ" (calmed) is written so once normalised
    "هذه": ("هيدي", "هذي"),
    "ليس": ("مش", "مهوش"),
    "ما زال": ("لسه", "لسا", "لساته"),
    "أمس": ("امبارح", "مبارح", "البارحه"),
    "اليوم": ("النهارده", "النهاردا"),
    "الآن": ("دلوقتي", "دلوقت", "هلق", "هلاء", "هسه"),
    "هكذا": ("كده", "كدا", "هيك"),
    "أيضا": ("كمان", "برضه", "برضو", "برده"),  # "also": a follow-up ("ومين حضر كمان؟")
    "بعد ذلك": ("بعدين",),  # "then": a follow-up ("وبعدين راح فين؟")
}
# a conjunction before the other words: وده, وبعدين (never ب / ل: Levantine "بده" is "he wants")
_OTHER_PREFIXES = ("و", "ف")
# "well, so" opening a follow-up ("طب ومين حضر كمان؟"): dropped when the next word starts with و, so
# the follow-up starts with its conjunction as a standard one does (elsewhere طب is medicine, طيب good)
_FILLERS = frozenset(normalize(w) for w in ("طب", "طيب", "يعني"))
# only as the question's first word, or its last when it has no other question word: elsewhere they are
# names ("من هو جورج برنارد شو؟", "جون وين") or other words (Egyptian "وش": face; "بكرة القدم")
_EDGE_WORDS = {"شو": "ماذا", "وش": "ماذا", "وين": "أين", "ليه": "لماذا", "بكره": "غدا", "بكرا": "غدا",  # بكرة القدم
               "واش": "هل"}  # Maghrebi yes-or-no question (elsewhere: وَاشٍ, a slanderer)
# standard "كما يلي" (as follows): "يلي" after these is not the Levantine relative pronoun
_FOLLOWS = frozenset(normalize(w) for w in ("ما", "فيما", "وفيما", "كما", "وكما", "علي ما"))
# letters of the Latin alphabet spelled in Arabic: "إيه" beside them is "A" ("بي إيه إي", "إيه بي سي")
_LETTER_NAMES = frozenset(normalize(w) for w in (
    "بي سي دي إي اي آي إف جي إتش كيه إل إم إن أو كيو آر إس تي يو في إكس واي زد").split())
# compared as written (marks dropped), not normalised, and never after a prefix: Egyptian "إيه" / "ايه"
# (what) is not standard "أية" (which) nor "أيه" ("أيه بي سي"); "كام" (how many) is not "كأم" (as a mother)
_AS_WRITTEN = {"إيه": "ماذا", "ايه": "ماذا", "كام": "كم"}
# a conjunction or preposition before a question word: وإمتى, فمين, بمين, لمين, ولمين
_PREFIXES = ("و", "ف", "ب", "ل", "وب", "ول", "فب", "فل")
# Egyptian "قد إيه" (how much, how long) is one question word
_HOW_MUCH = re.compile(r"(?<![\w])قد+ّ?\s+[إا]يه(?![\w])")

_QUESTION = {normalize(d): msa for msa, words in _QUESTION_WORDS.items() for d in words}
_OTHER = {normalize(d): msa for msa, words in _OTHER_WORDS.items() for d in words}
_WORD = re.compile(r"[\u0621-\u064A\u0660-\u0669\u0670-\u06D3\u064B-\u065F\u0640]+")


def _standard(word: str, edge: bool, before: str = "", after: str = "") -> str | None:
    """The standard form of ``word`` (None: keep it); ``before`` / ``after``: the words beside it."""
    written = TASHKEEL.sub("", word).replace("\u0640", "")
    conjunction = written[:1] if written[:1] in _OTHER_PREFIXES and written[1:] in _AS_WRITTEN else ""
    if written[len(conjunction):] in _AS_WRITTEN:  # وكام, وإيه
        spelled = written in ("إيه", "ايه") and {normalize(before), normalize(after)} & _LETTER_NAMES
        return None if spelled else conjunction + _AS_WRITTEN[written[len(conjunction):]]
    key = normalize(word)
    if key in _QUESTION:
        return _QUESTION[key]
    if key in _OTHER:
        return None if key == "يلي" and normalize(before) in _FOLLOWS else _OTHER[key]
    if key[:1] in _OTHER_PREFIXES and key[1:] in _OTHER and key[1:] != "يلي":  # وده, وبعدين
        return word[:1] + _OTHER[key[1:]]
    if edge and key in _EDGE_WORDS:
        return _EDGE_WORDS[key]
    for prefix in _PREFIXES:  # a question word only
        if key.startswith(prefix) and key[len(prefix):] in _QUESTION:
            return word[: len(prefix)] + _QUESTION[key[len(prefix):]]
    return None


def _asks(word: str) -> bool:
    """Whether ``word`` is a question word (standard, or a dialect one that counts anywhere)."""
    key = normalize(word)
    key = key[1:] if key[:1] in ("و", "ف") and key[1:] in QUESTION_WORDS | _QUESTION.keys() else key
    return key in QUESTION_WORDS or key in _QUESTION or TASHKEEL.sub("", word) in _AS_WRITTEN


def to_standard(question: str) -> str:
    """``question`` with its dialect question words, pronouns and time words in Modern Standard Arabic
    (the rest exactly as written); a question in standard Arabic or another language comes back unchanged."""
    text = _HOW_MUCH.sub("كم", question)
    words = list(_WORD.finditer(text))
    if len(words) > 1 and normalize(words[0].group()) in _FILLERS and normalize(words[1].group()).startswith("و"):
        text = text[: words[0].start()] + text[words[1].start() :]  # "طب ومين ..." -> "ومين ..."
        words = list(_WORD.finditer(text))
    asking = [_asks(m.group()) for m in words]
    out, last = [], 0
    for n, match in enumerate(words):
        before = words[n - 1].group() if n else ""
        after = words[n + 1].group() if n + 1 < len(words) else ""
        edge = n == 0 or (n == len(words) - 1 and n >= 2 and not any(asking[:n]))
        standard = _standard(match.group(), edge, before, after)
        if standard is not None:
            out.append(text[last : match.start()] + standard)
            last = match.end()
    out.append(text[last:])
    return "".join(out)
