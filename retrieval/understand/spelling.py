"""Misspelt words in a question, corrected to the index's own words.

A question typed in a chat has typos: "نتنياهوا", "المخابرت", "الإسرايلي". The encoder reads through most of
them, but BM25 and the composer's word features miss the word, and a word the index does not know counts
against answering at all: one typo in the longest word of each Arabic seed question took answer recall from
0.966 to 0.881 and tripled the abstentions (bench/eval_typos.py).

A word is corrected only when it is unknown twice over: to the index (as a word, or by its stem) and to a
lexicon of Arabic as the news writes it (``data/arabic_words.txt.gz``: every word written at least three
times in the 31,508 articles of the ANT corpus, normalised). A real word the corpus happens not to hold
("أنباء", "إرسال", "روسيا") is left alone, so a question about something the articles do not cover still
reads as one. An unknown word of five letters or more then becomes the index's word one edit away (a letter
dropped, added, changed or two swapped: SymSpell's symmetric-delete lookup), the most frequent one when
several are; a word with no such neighbour stays as typed.

``Speller(frequencies)`` takes the index's BM25 vocabulary (term -> chunks holding it: stems, and the words
themselves prefixed with "="); ``correct(question)`` returns the question with its corrected words
(normalised) and the rest as written. The loaded index owns its Speller (``index.lexicon.speller``,
understand/lexicon.py; the bot builds it in the background at start, as the English names' table).

    python -m retrieval.understand.spelling --lexicon ../shared/data/ant-news/ant_news_2018.jsonl.gz   # rebuilds the lexicon
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from retrieval.text.arabic import STOPWORDS, normalize, stem

log = logging.getLogger(__name__)

LEXICON = Path(__file__).resolve().parents[1] / "data" / "arabic_words.txt.gz"
LEXICON_MIN_COUNT = 1  # every word the archive writes (3 or more: XQuAD questions changed 54 -> 82, typos fixed about the same)
MIN_LETTERS = 5  # shorter words have too many neighbours one edit away to guess which was meant
MAX_EDITS = 1
# an index this large spells its words more than once: a word in a single chunk is left out of the table
# (the archive: 1.9 s and +132 MB for the table of its 255,083 terms; with the single ones 3.1 s and +222 MB)
LARGE_VOCABULARY = 100_000
_WORD = re.compile(r"[\u0621-\u064A\u064B-\u065F\u0640]+")


@lru_cache(maxsize=1)
def lexicon(path: Path = LEXICON) -> frozenset[str]:
    """The lexicon's words (empty, with a warning, when the file is missing or damaged: nothing is corrected)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return frozenset(line.strip() for line in handle if line.strip())
    except (OSError, EOFError, UnicodeDecodeError) as error:
        log.warning("the spelling lexicon %s cannot be read (%s): questions are not spell-corrected", path, error)
        return frozenset()


class Speller:
    """The index's words by their single deletions (SymSpell); ``correct(question)`` -> the corrected question."""

    def __init__(self, frequencies: Mapping[str, int], words: frozenset[str] | None = None) -> None:
        from symspellpy import SymSpell

        self._lexicon = lexicon() if words is None else words
        self._terms = frequencies
        surface: Counter[str] = Counter()
        min_df = 2 if len(frequencies) > LARGE_VOCABULARY else 1
        for term, df in frequencies.items():
            word = term[1:] if term.startswith("=") else term
            if df >= min_df and len(word) >= MIN_LETTERS - MAX_EDITS and not word.isascii():
                surface[word] += df
        self._symspell = SymSpell(max_dictionary_edit_distance=MAX_EDITS, prefix_length=7)
        for word, count in sorted(surface.items()):
            self._symspell.create_dictionary_entry(word, count)
        self.enabled = bool(self._lexicon)

    def known(self, word: str) -> bool:
        """Whether ``word`` (normalised) is a word: in the index (itself or its stem) or in the lexicon."""
        terms = self._terms
        return word in self._lexicon or terms.get(word, 0) > 0 or terms.get("=" + word, 0) > 0 or terms.get(stem(word), 0) > 0

    def suggestion(self, word: str) -> str | None:
        """The index's word one edit from ``word`` (normalised), or None (a word, too short, or no neighbour)."""
        from symspellpy import Verbosity

        if not self.enabled or len(word) < MIN_LETTERS or word in STOPWORDS or self.known(word):
            return None
        found = self._symspell.lookup(word, Verbosity.TOP, max_edit_distance=MAX_EDITS, include_unknown=False)
        return found[0].term if found and found[0].term != word else None

    def corrected(self, question: str) -> tuple[str, list[tuple[str, str]]]:
        """(``question`` with each misspelt Arabic word replaced by the index's word one edit away, the
        replacements as (typed, searched) pairs: what the answer tells the user it corrected)."""
        out, pairs, last = [], [], 0
        for match in _WORD.finditer(question):
            better = self.suggestion(normalize(match.group()))
            if better is not None:
                out.append(question[last : match.start()] + better)
                pairs.append((match.group(), better))
                last = match.end()
        out.append(question[last:])
        return "".join(out), pairs

    def correct(self, question: str) -> str:
        """``question`` with its misspelt words corrected (``corrected`` without the pairs)."""
        return self.corrected(question)[0]


def build_lexicon(articles: Iterable[str], target: Path = LEXICON, min_count: int = LEXICON_MIN_COUNT) -> int:
    """Write the normalised words written at least ``min_count`` times in ``articles`` (one per line, sorted,
    gzip without a timestamp: the same archive gives the same bytes); returns how many."""
    counts: Counter[str] = Counter()
    for text in articles:
        counts.update(normalize(word) for word in _WORD.findall(text))
    words = sorted(word for word, count in counts.items() if count >= min_count and len(word) >= 2)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
        handle.write("".join(word + "\n" for word in words).encode("utf-8"))
    tmp.replace(target)
    lexicon.cache_clear()
    return len(words)


def _archive_texts(path: Path) -> Iterable[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                yield f"{record.get('title', '')}\n{record.get('text', '')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the spelling lexicon from an archive of news (JSON Lines, gzip).")
    parser.add_argument("--lexicon", type=Path, required=True, help="the archive: ant_news_2018.jsonl.gz")
    parser.add_argument("--min-count", type=int, default=LEXICON_MIN_COUNT)
    args = parser.parse_args(argv)
    count = build_lexicon(_archive_texts(args.lexicon), min_count=args.min_count)
    print(f"{count:,} words -> {LEXICON}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
