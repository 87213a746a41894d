"""Names in Latin script, found among the index's Arabic words by their sound.

An English question about Arabic news names people and places the articles spell in Arabic letters:
"Who did Hassan Rashad meet?" shares no word with "التقى ... اللواء حسن رشاد", so BM25 and the composer's
word features see nothing, and the question lives on the multilingual vectors alone. Here each
capitalised Latin word is reduced to its consonant skeleton ("Witkoff" -> "tkf", "Rashad" -> "rsd") and
matched with the index's terms of the same skeleton (ويتكوف -> "wytkwf" -> "tkf"; رشاد -> "rshd" -> "rsd"),
romanised by anyascii. Arabic writes no short vowels, so both sides drop the vowels and the letters that
are vowels as often as consonants (w, y, h); two checks on the vowels Arabic does write keep common words
out ("Prize" is not ابرز: Arabic's initial alef wants a Latin initial vowel; "Most" is not مستوي: two
written long vowels against one Latin vowel). A question typed all in lower case has no capitals to tell
names by, so there every word of four letters or more is looked up (on XQuAD's English questions in lower
case: answer recall 0.792 -> 0.798, passage recall @1 0.789 -> 0.802).

The matched terms join the BM25 query, nothing else: the question's vector is the question's own, and the
composer ranks sentences and decides whether to answer as before (bench/eval_names.py: with the names among
the composer's terms too, XQuAD's English questions lost 1.3 points of answer recall, and deciding with them
abstained less on near-topic questions).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

from anyascii import anyascii

# Latin spellings of one Arabic sound, and letters Arabic lacks (p, v, the hard c, q, x) -> their Arabic stand-ins
_DIGRAPHS = (("sh", "s"), ("th", "t"), ("kh", "k"), ("gh", "g"), ("dh", "d"), ("ph", "f"), ("ch", "s"), ("ck", "k"))
_LETTERS = str.maketrans({"p": "b", "v": "f", "c": "k", "q": "k", "x": "k", "g": "j"})
_NOT_CONSONANT = re.compile(r"[aeiouyhw]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")
_LATIN_VOWELS = re.compile(r"[aeiouy]+")
_ARABIC_ALEF = "اأإآء"
_ARABIC_LONG_VOWELS = "اويى"
# capitalised words that are not names (questions start with them; titles are capitalised in English)
_NOT_NAMES = frozenset("""
a an the who whom whose what when where which why how is are was were did does do has have had can could
will would in on at of for from to by with about after before during since according under between
mr mrs ms dr president minister prime king prince general director chief foreign secretary
""".split())
MIN_SKELETON = 3  # two consonants match too many Arabic words ("Gaza" -> "jz")
LENGTH_RATIO = 0.6  # an Arabic spelling has at least this share of the Latin name's letters
PER_NAME = 2  # the most frequent matching terms kept for each name (two common spellings: ترامب, ترمب)


def skeleton(latin: str) -> str:
    """The consonant skeleton of a romanised word: lower case, one letter per Arabic sound, no
    vowels, no doubled letters."""
    text = re.sub(r"[^a-z]", "", latin.lower())
    for pair, single in _DIGRAPHS:
        text = text.replace(pair, single)
    text = _NOT_CONSONANT.sub("", text.translate(_LETTERS))
    return re.sub(r"(.)\1+", r"\1", text)


def arabic_forms(word: str) -> list[str]:
    """``word`` and, for a word with the article, the word without it (القاهرة -> قاهرة)."""
    return [word, word[2:]] if word.startswith("ال") and len(word) > 4 else [word]


def sounds_alike(latin: str, arabic: str) -> bool:
    """The vowel checks: Arabic's written long vowels must have Latin vowels to stand for."""
    if len(arabic) < LENGTH_RATIO * len(latin):
        return False
    if arabic[0] in _ARABIC_ALEF and latin[0].lower() not in "aeiou":
        return False
    written = sum(ch in _ARABIC_LONG_VOWELS for ch in arabic[1:])
    return written <= len(_LATIN_VOWELS.findall(latin.lower()))


def latin_names(text: str) -> list[str]:
    """The Latin-script words of ``text`` that may be names, in order, each once: the capitalised ones; in
    a question typed all in lower case ("who met rashad?"), every word of four letters or more."""
    words = _LATIN_WORD.findall(text)
    lower = not any(ch.isupper() for word in words for ch in word)
    out: list[str] = []
    for word in words:
        if (word[0].isupper() or lower and len(word) >= 4) and len(word) >= 3 \
                and word.lower() not in _NOT_NAMES and word not in out:
            out.append(word)
    return out


class NameBridge:
    """Index terms by skeleton; ``terms(question)`` -> the terms of the question's Latin names."""

    def __init__(self, frequencies: Mapping[str, int]) -> None:
        # frequencies: BM25 term -> chunks holding it. The terms are stems and, where a word's stem
        # differs from it, the word itself prefixed with "=" (retrieval.text.arabic.analyze)
        by_skeleton: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        for term, df in frequencies.items():
            word = term[1:] if term.startswith("=") else term
            if not word or not df or word.isascii():
                continue
            for form in arabic_forms(word):
                key = skeleton(anyascii(form))
                if len(key) >= MIN_SKELETON:
                    by_skeleton[key].append((df, form, term))
        self._by_skeleton = {key: sorted(rows, key=lambda r: (-r[0], r[2])) for key, rows in by_skeleton.items()}

    def spellings(self, question: str) -> dict[str, list[str]]:
        """Each Latin name of the question that the index spells -> its BM25 terms, the most frequent first."""
        out: dict[str, list[str]] = {}
        taken: set[str] = set()
        for name in latin_names(question):
            key = skeleton(name)
            if len(key) < MIN_SKELETON:
                continue
            found: list[str] = []
            for _, form, term in self._by_skeleton.get(key, ()):
                if term not in found and term not in taken and sounds_alike(name, form):
                    found.append(term)
                    if len(found) == PER_NAME:
                        break
            if found:
                out[name] = found
                taken.update(found)
        return out
