"""Synthetic news questions for the reader: cloze questions cut from the ANT archive's sentences.

XQuAD and ARCD are Wikipedia; the bot reads news. Here a sentence of an archive article becomes a
question by replacing one span with the question word that asks for it: a count (digits or number
words with their noun) -> كم, a date, weekday, year or hour -> متى, a place after في/إلى/من -> أين, a
titled person's name (الرئيس، وزير، اللواء ...) -> من. The question word goes first, the span is
dropped, only the words near it are kept and some of them dropped at random, so a question never copies
its sentence. Positive: the source sentence; hard negatives: the other sentences of the same article
(the composer's real confusion). The sentences and their vectors are the archive index's own (data/ant,
read only): nothing is embedded again.

Hard mode (``hard=True``; training: ``--ant-hard``): plain e5 finds the source sentence of a default
question among its article's for 0.96 of them (the kept words are the sentence's own, rare names
included), so they teach little. A hard question keeps 3-4 content words of the window (no function or
reporting words, never the window's three rarest words, most often the names that give the sentence
away) and writes each in another form of the same word where the archive has one (with or without
the article, another inflection: الوزير -> وزيرة، الاجتماع -> اجتماعات), as a reader's own question
would: plain e5 then finds the source for 0.78 of them (data/reader/hard-cloze_eval.py).

Places come from the archive itself: the datelines of its bylines ("القاهرة - ...") and the names
whose nisba adjective is common in it (سوريا / السوري). Everything is seeded: the same arguments give
the same questions.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.index.store import load_array
from retrieval.reader.data import Dataset, Example
from retrieval.text.arabic import STOPWORDS, normalize
from retrieval.text.calendar_ar import find_months, find_weekdays, to_western_digits

ARCHIVE = Path("../shared/data/ant-news/ant_news_2018.jsonl.gz")
INDEX = Path("data/ant")

_WORD = re.compile(r"\S+")
_PUNCT = "،,.:;؛!؟?\"'«»()[]{}“”…-–—/"
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*%?$")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
STOP = frozenset("""في من إلى الى على عن مع أن إن ان أو او ثم التي الذي الذين اللذين هذا هذه ذلك تلك بين حتى
منذ بعد قبل خلال عند لدى كما ما لا لم لن قد وقد كان كانت هو هي هم كل بعض أي غير نحو حول ضد عبر دون إلا""".split())
NUMBER_WORDS = frozenset("""ثلاثة ثلاث أربعة أربع خمسة خمس ستة ست سبعة سبع ثمانية ثماني تسعة تسع عشرة عشر عشرات
عشرين عشرون ثلاثين ثلاثون أربعين أربعون خمسين خمسون مئات آلاف ألفين""".split())
MULTIPLIERS = frozenset("ألف آلاف مليون ملايين مليار مليارات".split())
TITLES = frozenset("""الرئيس رئيس وزير وزيرة اللواء العميد الفريق العقيد الملك الأمير الشيخ المتحدث النائب السفير
المستشار الدكتور المدرب اللاعب المدير مدير الأمين""".split())
TIME_AFTER = frozenset("الماضي الماضية المقبل المقبلة الجاري الحالي".split())
# names the proper-noun test below lets through that are no places (prepositional phrases, "الأمم" cut
# from "الأمم المتحدة", which the datelines hold whole)
# words of reporting and linking that the search stopwords keep: a hard question asks with content words only
HARD_STOP = frozenset("""فيما بينما قال وقال قالت وقالت أضاف وأضاف أضافت وأضافت أوضح وأوضح أشار وأشار أكد وأكد
أمام وراء أمس اليوم عليه عليها وفق وفقا بأن بأنه أنه أنها إنه إنها وأن عام العام""".split())
SUFFIXES = ("ات", "ون", "ين", "ان", "ية", "ة", "ي")  # longest first
NOT_PLACES = frozenset("أمام إضافة الأمم البرلمان النقد ترك ذات كافة".split())


@dataclass(frozen=True)
class Forms:
    """The archive's word counts and its common words grouped by ``core`` (for hard questions)."""
    counts: Counter
    by_core: dict[str, tuple[str, ...]]

    def other_form(self, word: str, rng: random.Random) -> str | None:
        """Another common form of ``word`` (None where the archive has none)."""
        forms = [f for f in self.by_core.get(core(word), ()) if f != word]
        return forms[rng.randrange(len(forms))] if forms else None


def core(word: str) -> str:
    """``word`` without its article and one inflection suffix (الوزيرة, وزيرات -> وزير): the forms a reader
    may write for the same word. Conjunctions and prepositions stay (ودفاع is no form of دفاع), and so does
    anything that would leave under three letters."""
    if word.startswith("ال") and len(word) >= 5:
        word = word[2:]
    for end in SUFFIXES:
        if word.endswith(end) and len(word) - len(end) >= 3:
            return word[: -len(end)]
    return word


@dataclass(frozen=True)
class Cloze:
    question: str
    kind: str  # "how-many" | "when" | "where" | "who"


def bare(token: str) -> str:
    return token.strip(_PUNCT)


def _has_punct_end(token: str) -> bool:
    return token != token.rstrip(_PUNCT)


def read_archive(path: Path = ARCHIVE) -> Iterator[dict]:
    """The archive's records in file order (the index's document order)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def gazetteer(records: Iterable[dict], min_dateline: int = 3, min_nisba: int = 30) -> frozenset[str]:
    """Place names found in the archive: bylines' datelines, and proper nouns after في/إلى/من with a common
    nisba adjective (سوريا: السوري, السورية). Proper: the name is (almost) never written with the article
    added or taken away (سوريا / السوريا, العراق / عراق), which common nouns are (الحكومة / حكومة)."""
    datelines: Counter[str] = Counter()
    after_prep: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for record in records:
        author = record.get("author") or ""
        if " - " in author:
            place = author.split(" - ", 1)[0].strip()
            if 0 < len(place.split()) <= 3 and "." not in place:
                datelines[place] += 1
        tokens = [bare(t) for t in record["text"].split()]
        words.update(tokens)
        after_prep.update(b for a, b in zip(tokens, tokens[1:]) if a in ("في", "إلى", "من") and b)
    places = {p for p, n in datelines.items() if n >= min_dateline}
    for name, n in after_prep.items():
        if n < min_nisba or name in STOP:
            continue
        stem = name[2:] if name.startswith("ال") else name
        for end in ("يا", "ية", "ا", "ة"):
            if stem.endswith(end) and len(stem) > len(end) + 2:
                stem = stem[: -len(end)]
                break
        other = name[2:] if name.startswith("ال") else "ال" + name
        if len(stem) >= 3 and words["ال" + stem + "ي"] >= min_nisba and words["ال" + stem + "ية"] >= min_nisba \
                and words[other] <= 0.05 * words[name] and name not in NOT_PLACES:
            places.add(name)
    return frozenset(places)


def word_forms(records: Iterable[dict], min_count: int = 20) -> Forms:
    """Every archive word's count, and the words seen ``min_count`` times or more grouped by ``core``."""
    counts: Counter[str] = Counter()
    for record in records:
        counts.update(bare(t) for t in record["text"].split())
    by_core: dict[str, list[str]] = {}
    for word, n in sorted(counts.items()):
        if n >= min_count and len(word) > 2 and word.isalpha() and word not in STOP and word not in HARD_STOP \
                and normalize(word) not in STOPWORDS:
            by_core.setdefault(core(word), []).append(word)
    return Forms(counts, {k: tuple(v) for k, v in by_core.items() if len(v) > 1})


def _hard_words(context: list[str], forms: Forms, rng: random.Random, keep: tuple[int, int],
                change: float, rare: int) -> list[str]:
    """3-4 of the window's content words, never its ``rare`` rarest, about ``change`` of them in another form."""
    content = [w for w in context if len(w) > 1 and w not in STOP and w not in HARD_STOP
               and normalize(w) not in STOPWORDS and not any(c.isdigit() for c in w)]
    if len(content) < keep[0] + rare:
        return []
    rarest = set(sorted(range(len(content)), key=lambda i: (forms.counts[content[i]], i))[:rare])
    rest = [w for i, w in enumerate(content) if i not in rarest]
    chosen = sorted(rng.sample(range(len(rest)), min(len(rest), rng.randint(*keep))))
    out = []
    for i in chosen:
        other = forms.other_form(rest[i], rng) if rng.random() < change else None
        out.append(other or rest[i])
    return out


def _spans(tokens: list[str], places: frozenset[str], sentence: str, starts: list[int]) -> list[tuple[int, int, str, str]]:
    """Candidate (first token, end token, kind, lead) spans of one sentence's tokens."""
    out: list[tuple[int, int, str, str]] = []
    b = [bare(t) for t in tokens]
    digits = [to_western_digits(t) for t in b]
    token_at = {s: i for i, s in enumerate(starts)}

    def token_of(char: int) -> int | None:
        while char >= 0 and char not in token_at:
            char -= 1
        return token_at.get(char)

    dated: set[int] = set()
    months = {lo for lo, _, _ in find_months(sentence)}
    for lo in sorted(months | {lo for lo, _, _ in find_weekdays(sentence)}):
        i = token_of(lo)
        if i is None or i in dated:
            continue
        first, last = i, i + 1
        if i > 0 and re.fullmatch(r"\d{1,2}", digits[i - 1]):
            first = i - 1
        if first > 0 and b[first - 1] in ("يوم", "اليوم", "مساء", "صباح"):
            first -= 1
        if last < len(b) and _YEAR.match(digits[last]):
            last += 1
        if last < len(b) and b[last] in TIME_AFTER:
            last += 1
        if lo in months and first == i and last == i + 1 and not (i > 0 and b[i - 1] in ("في", "منذ", "خلال")):
            continue  # a bare month name without a day, year or "في" is often a word or name (آب، مايو)
        if first > 0 and b[first - 1] in ("في", "منذ"):
            first -= 1
        out.append((first, last, "when", "متى"))
        dated.update(range(first, last))
    for i, d in enumerate(digits):
        if i in dated:
            continue
        if _YEAR.match(d) and i > 0 and b[i - 1] in ("عام", "العام", "سنة", "في"):
            first = i - 2 if i > 1 and b[i - 1] != "في" and b[i - 2] in ("في", "منذ") else i - 1
            out.append((first, i + 1, "when", "متى"))
            dated.add(i)
        elif re.fullmatch(r"\d{1,2}(?::\d\d)?", d) and i > 0 and b[i - 1] == "الساعة":
            out.append((i - 1, i + 1, "when", "متى"))
            dated.add(i)
    for i, d in enumerate(digits):
        if i in dated or not (_NUMBER.match(d) or b[i] in NUMBER_WORDS) or _YEAR.match(d):
            continue
        if b[i] in NUMBER_WORDS and i > 0 and b[i - 1].startswith("ال"):
            continue  # an ordinal (الحادي عشر), not a count
        if d.endswith("%"):
            out.append((i, i + 1, "how-many", "كم بالمئة"))
            continue
        j = i + 1
        while j < len(b) and b[j] in MULTIPLIERS:
            j += 1
        if j < len(b) and b[j].isalpha() and b[j] not in STOP and not _has_punct_end(tokens[j - 1]) \
                and j not in dated and not b[j].startswith("ال"):
            out.append((i, j + 1, "how-many", f"كم {b[j]}"))
    for i in range(len(b) - 1):
        prep = b[i][1:] if b[i].startswith("و") and b[i][1:] in ("في", "إلى", "من") else b[i]
        if prep not in ("في", "إلى", "من") or _has_punct_end(tokens[i]):
            continue
        for width in (3, 2, 1):
            name = " ".join(b[i + 1 : i + 1 + width])
            if i + width < len(b) and name in places:
                lead = {"في": "أين", "إلى": "إلى أين", "من": "من أين"}[prep]
                out.append((i, i + 1 + width, "where", lead))
                break
    for i, t in enumerate(b):
        if t not in TITLES:
            continue
        j = i + 1
        while j < len(b) and j - i <= 3 and b[j].startswith("ال") and not _has_punct_end(tokens[j - 1]):
            j += 1
        name = b[j : j + 2]
        if len(name) == 2 and all(w and w[0].isalpha() and w not in STOP and not w.startswith("ال") for w in name) \
                and not any(_has_punct_end(x) for x in tokens[i : j + 1]):
            out.append((i, j + 2, "who", "من"))
    return out


def candidates(sentence: str, places: frozenset[str]) -> list[tuple[str, str, str]]:
    """Every (kind, question word, replaced text) ``make_question`` may pick from in ``sentence``."""
    matches = list(_WORD.finditer(sentence))
    tokens = [m.group() for m in matches]
    return [(kind, lead, " ".join(tokens[a:b])) for a, b, kind, lead in _spans(tokens, places, sentence, [m.start() for m in matches])]


def make_question(sentence: str, places: frozenset[str], rng: random.Random, window: tuple[int, int] = (7, 9),
                  drop: float = 0.15, forms: Forms | None = None, keep: tuple[int, int] = (3, 4),
                  change: float = 1.0, rare: int = 3) -> Cloze | None:
    """One cloze question from ``sentence`` (None where it has no span to ask for); with ``forms``, a hard
    one (``keep`` content words of the window, ``change`` of them in another form)."""
    matches = list(_WORD.finditer(sentence))
    tokens = [m.group() for m in matches]
    spans = _spans(tokens, places, sentence, [m.start() for m in matches])
    if not spans:
        return None
    first, last, kind, lead = spans[rng.randrange(len(spans))]
    before = [bare(t) for t in tokens[max(0, first - window[0]) : first]]
    after = [bare(t) for t in tokens[last : last + window[1]]]
    context = [w.replace("#", "").replace("_", " ") for w in before + after if w and w not in ("و",)]
    if forms is not None:
        kept = _hard_words(context, forms, rng, keep, change, rare)
        return Cloze(f"{lead} {' '.join(kept)}؟", kind) if kept else None
    kept = [w for w in context if rng.random() >= drop]
    if len(kept) < 3:
        return None
    return Cloze(f"{lead} {' '.join(kept)}؟", kind)


def load_cloze(count: int, seed: int = 15, archive: Path = ARCHIVE, index: Path = INDEX, per_article: int = 2,
               max_candidates: int = 30, kinds: frozenset[str] | None = None,
               hard: bool = False) -> tuple[Dataset, np.ndarray]:
    """``count`` cloze examples from randomly chosen archive articles, with their sentences' index vectors.

    Each example's candidate sentences are its article's (at most ``max_candidates``: the positive and
    a seeded sample of the others); sentences identical to the positive are left out of the negatives."""
    records = list(read_archive(archive))
    rows = load_array(Path(index) / "sentences.npy", mmap=False)
    vectors = load_array(Path(index) / "sentence_vectors.npy")
    if len(rows) != len(vectors) or (len(rows) and int(rows[-1, 0]) != len(records) - 1):
        raise ValueError(f"{index} does not index {archive} (its sentence table does not match the archive's "
                         f"{len(records):,} articles); build it with index_build.py --corpus {archive}.")
    places = gazetteer(records)
    forms = word_forms(records) if hard else None
    bounds = np.searchsorted(rows[:, 0], np.arange(len(records) + 1))
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    sentences: list[str] = []
    picked: list[int] = []
    local: dict[int, int] = {}  # index row -> id in ``sentences`` (an article's two questions share them)
    examples: list[Example] = []
    for doc in order:
        if len(examples) >= count:
            break
        lo, hi = int(bounds[doc]), int(bounds[doc + 1])
        if hi - lo < 3:
            continue
        text = records[doc]["text"]
        texts = [text[s:e] for _, s, e in rows[lo:hi]]
        rng = random.Random(f"{seed}/{records[doc]['id']}")
        made = 0
        for k in rng.sample(range(len(texts)), len(texts)):
            if made >= per_article or len(examples) >= count:
                break
            if not 40 <= len(texts[k]) <= 400:
                continue
            cloze = make_question(texts[k], places, rng, forms=forms)
            if cloze is None or (kinds is not None and cloze.kind not in kinds):
                continue
            others = [j for j in range(len(texts)) if j != k and texts[j] != texts[k]]
            if len(others) < 2:
                continue
            others = sorted(rng.sample(others, min(len(others), max_candidates - 1)))
            for j in [k, *others]:
                if lo + j not in local:
                    local[lo + j] = len(sentences)
                    sentences.append(texts[j])
                    picked.append(lo + j)
            ids = tuple(local[lo + j] for j in sorted([k, *others]))
            gold = local[lo + k]
            examples.append(Example(cloze.question, "ar", "ant", f"ant:{records[doc]['id']}", ids, gold,
                                    f"ant:{records[doc]['id']}:{k}:{cloze.kind}"))
            made += 1
    return Dataset(sentences, examples), np.asarray(vectors[np.asarray(picked, dtype=np.int64)], np.float32)
