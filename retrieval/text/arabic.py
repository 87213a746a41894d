"""Arabic text analysis: normalise, tokenize, stem, stopwords, sentence spans."""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

# Bump when normalisation, tokenisation, stopwords or stemming change: an index built
# with another version is refused at load time (its BM25 terms would not match).
ANALYZER_VERSION = "ar-2"

# diacritics and tatweel (normalize drops them; answer/spans.py skips them keeping offsets)
TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed\u0640]")
# Invisible format characters (zero-width, bidi marks) that split or glue words unseen.
_INVISIBLE = re.compile("[\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
_CHAR_MAP = str.maketrans(
    {
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
        "ى": "ي", "ی": "ي", "ئ": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ک": "ك", "ڪ": "ك",
        "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9",
        "۰": "0", "۱": "1", "۲": "2", "۳": "3", "۴": "4", "۵": "5", "۶": "6", "۷": "7", "۸": "8", "۹": "9",
    }
)
# A token is a run of letters/digits (any script); everything else (Arabic and Latin
# punctuation, symbols, spaces) separates tokens.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

_STOPWORDS = (
    """
    من ما ماذا متى اين كم هل كيف لماذا لما اي ايه ايها
    في الي على علي عن مع ان او ثم قد لقد لا لم لن ليس الا الذي التي الذين اللذين اللتين اللواتي
    هذا هذه ذلك تلك هو هي هم هن انا نحن انت انتم كان كانت يكون تكون كانوا وكان وكانت
    و ف ب ل ك وفي وعلي ومن وما وهو وهي وهذا وهذه والي وعن وان ولا ولم وقد او ام بل
    بين بعد قبل عند حتي منذ خلال حيث كما كل بعض غير ايضا اذا اذ لكن لان به بها له لها لهم
    فيه فيها منه منها عليه عليها اليه اليها عنه عنها هناك هنا الان ذلك تم يتم اما
    the a an of to in on at for and or is are was were be by with from as that this which who what
    when where how why did does do
    """.split()
)

# Question words signal the question type; they are stopwords for matching.
_QUESTION_WORDS = "من ما ماذا متى اين كم هل كيف لماذا اي who what when where how why which".split()

# snowballstemmer's stemmers keep the word being stemmed in the object: one per thread, or two
# questions answered at once (the bot's worker threads) mix their words up or raise IndexError
_local = threading.local()


def _stemmer():
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("arabic")
    return stemmer


def normalize(text: str) -> str:
    """Unicode NFKC, strip tashkeel/tatweel and invisible marks, unify letter forms and digits,
    lowercase Latin. Idempotent: ``normalize(normalize(x)) == normalize(x)``."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = TASHKEEL.sub("", text)
    text = text.translate(_CHAR_MAP).lower()
    # NFKC after the mapping keeps the result stable under a second pass
    return unicodedata.normalize("NFKC", text)


# Both lists are compared with normalised tokens, so they are normalised too ("متى" -> "متي").
QUESTION_WORDS = frozenset(normalize(w) for w in _QUESTION_WORDS)
# a question word with a conjunction ("وماذا عن ...", "فمن") is still a question word
STOPWORDS = frozenset(normalize(w) for w in _STOPWORDS) | QUESTION_WORDS | frozenset(
    prefix + w for w in QUESTION_WORDS if "\u0600" <= w[0] <= "\u06ff" for prefix in "وف"
)


def tokenize(text: str) -> list[str]:
    """Normalised word tokens (no stopword removal, no stemming)."""
    return _TOKEN.findall(normalize(text))


@lru_cache(maxsize=200_000)
def stem(token: str) -> str:
    """Light stem of one normalised token (Snowball Arabic); Latin and digits unchanged."""
    if not token or not ("\u0600" <= token[0] <= "\u06ff"):
        return token
    stemmed = _stemmer().stemWord(token)
    return stemmed if len(stemmed) >= 2 else token


def content_tokens(text: str) -> list[str]:
    """Normalised tokens without stopwords (the unstemmed matching signal)."""
    return [t for t in tokenize(text) if t not in STOPWORDS]


def analyze(text: str) -> list[str]:
    """BM25 terms: normalised, stopwords removed, each stemmed term followed by its
    unstemmed surface form (prefixed with ``=``) when they differ, so an exact word
    match scores above a match that only shares a stem (التقى vs تقي)."""
    terms: list[str] = []
    for token in content_tokens(text):
        stemmed = stem(token)
        terms.append(stemmed)
        if stemmed != token:
            terms.append("=" + token)
    return terms


# Sentence ends: Arabic/Latin full stops, question and exclamation marks, the ellipsis
# and line breaks (not the Arabic semicolon ؛, which joins clauses). A full stop between digits (3.5) is not an end.
_SENTENCE_END = re.compile(r"(?:[!?؟!۔…]+|(?<!\d)\.(?!\d)|\.(?=\s)|[\n\r]+)[\"'”’»)\]]*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences in ``text`` (stripped of surrounding whitespace)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        _append_span(text, start, end, spans)
        start = end
    _append_span(text, start, len(text), spans)
    return spans


def _append_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and any(ch.isalnum() for ch in text[start:end]):
        spans.append((start, end))
