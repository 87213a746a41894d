"""Cloze questions from the ANT archive for the reader (retrieval/reader/cloze.py), on the archive's real
articles: each question asks for the span it dropped with the matching question word, keeps only words of
its own sentence and never copies it; places come from the archive; the training examples are seeded and
point at the archive index's own sentences and vectors."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import ANT, ROOT

from retrieval.ingest.chunking import sentence_units
from retrieval.reader.cloze import HARD_STOP, STOP, bare, candidates, core, gazetteer, load_cloze, make_question, read_archive, word_forms
from retrieval.text.arabic import STOPWORDS, normalize

pytestmark = pytest.mark.skipif(not ANT.is_file(), reason="the ANT corpus (../shared/data/ant-news) is not here")
ANT_INDEX = ROOT / "data" / "ant"
LEADS = ("كم", "متى", "أين", "إلى أين", "من أين", "من")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(itertools.islice(read_archive(ANT), 2000))


@pytest.fixture(scope="module")
def places(records) -> frozenset[str]:
    return gazetteer(records, min_dateline=2, min_nisba=5)  # thresholds scaled to 2,000 of the 31,508 articles


def sentence_with(records: list[dict], words: str) -> str:
    for record in records:
        for lo, hi in sentence_units(record["text"], 1200):
            if words in record["text"][lo:hi]:
                return record["text"][lo:hi]
    raise AssertionError(f"no archive sentence holds {words!r}")


def words_of(text: str) -> set[str]:
    return {bare(w).replace("#", "") for w in text.replace("_", " ").split()}


def test_the_places_are_the_archives_datelines_and_proper_nouns(places) -> None:
    assert {"القاهرة", "دبي", "سوريا", "مصر", "العراق", "لبنان"} <= places
    # common nouns after في/إلى/من, even with a nisba adjective (الحكومي، العالمي), are no places
    assert not {"الحكومة", "العالم", "أمام", "الأسبوع", "اليوم"} & places


def test_each_kind_replaces_its_span_with_its_question_word(records, places) -> None:
    dated = sentence_with(records, "15 فبراير 2018")
    assert ("when", "متى", "15 فبراير 2018") in candidates(dated, places)
    assert ("when", "متى", "مساء الخميس") in candidates(dated, places)
    assert ("how-many", "كم دولة", "36 دولة.") in candidates(sentence_with(records, "في 36 دولة"), places)
    assert ("how-many", "كم أيام", "ثلاثة أيام") in candidates(sentence_with(records, "ثلاثة أيام من أجل"), places)
    assert ("where", "أين", "في باريس") in candidates(sentence_with(records, "شقة في باريس"), places)
    assert ("who", "من", "وزيرة الثقافة الفرنسية فرنسواز نيسين") in candidates(
        sentence_with(records, "وزيرة الثقافة الفرنسية فرنسواز نيسين"), places)
    # "آب" alone (here the end of a name, "آكت آب") is no month without a day, a year or "في"
    assert not [c for c in candidates(sentence_with(records, "جمعية \"آكت آب\""), places) if c[0] == "when"]


def test_questions_keep_only_their_sentences_words_and_never_copy_it(records, places) -> None:
    rng = random.Random(7)
    kinds: dict[str, int] = {}
    made = copied = 0
    for record in records[:300]:
        for lo, hi in sentence_units(record["text"], 1200):
            sentence = record["text"][lo:hi]
            cloze = make_question(sentence, places, rng)
            if cloze is None:
                continue
            made += 1
            kinds[cloze.kind] = kinds.get(cloze.kind, 0) + 1
            assert cloze.question.endswith("؟")
            lead = next(lead for lead in sorted(LEADS, key=len, reverse=True) if cloze.question.startswith(lead + " "))
            rest = cloze.question[len(lead) + 1 : -1]
            if cloze.kind == "how-many" and lead == "كم":
                rest = rest.split(" ", 1)[1]  # the counted noun comes from the sentence too
            assert words_of(rest) <= words_of(sentence), (cloze.question, sentence)
            assert len(rest.split()) < len(sentence.split())
            copied += rest in sentence  # a window kept whole (no word dropped): allowed, but not the rule
    assert made > 300 and copied < 0.5 * made
    assert set(kinds) == {"how-many", "when", "where", "who"} and min(kinds.values()) > 20, kinds


@pytest.fixture(scope="module")
def forms(records):
    return word_forms(records, min_count=3)  # scaled to 2,000 of the 31,508 articles


def test_a_words_forms_share_its_core_without_conjunctions() -> None:
    assert core("الوزيرة") == core("وزيرات") == core("وزير") == "وزير"
    assert core("المصرية") == core("مصري") == core("مصر") == "مصر"
    assert core("ودفاع") != core("دفاع")  # a conjunction is no inflection
    assert core("سنة") == "سنة" and core("الأم") == "الأم"  # never under three letters


def test_hard_questions_keep_few_content_words_some_in_other_forms(records, places, forms) -> None:
    rng = random.Random(7)
    made = changed = kept = 0
    kinds: set[str] = set()
    for record in records[:300]:
        for lo, hi in sentence_units(record["text"], 1200):
            sentence = record["text"][lo:hi]
            cloze = make_question(sentence, places, rng, forms=forms)
            if cloze is None:
                continue
            made += 1
            kinds.add(cloze.kind)
            lead = next(lead for lead in sorted(LEADS, key=len, reverse=True) if cloze.question.startswith(lead + " "))
            rest = cloze.question[len(lead) + 1 : -1].split()
            if cloze.kind == "how-many" and lead == "كم":
                rest = rest[1:]
            assert 3 <= len(rest) <= 4, cloze.question
            own = words_of(sentence)
            cores = {core(w) for w in own}
            content = [w for w in own if len(w) > 1 and w not in STOP | HARD_STOP and normalize(w) not in STOPWORDS]
            counts = sorted(forms.counts[w] for w in content)
            rarest = min(content, key=lambda w: forms.counts[w]) if len(counts) < 2 or counts[0] < counts[1] else None
            for word in rest:
                assert word not in STOP | HARD_STOP and normalize(word) not in STOPWORDS, cloze.question
                assert word in own or core(word) in cores, (word, cloze.question, sentence)
                changed += word not in own
                kept += 1
            assert rarest not in rest, (rarest, cloze.question)  # the word that would give the sentence away
    assert made > 200 and kinds == {"how-many", "when", "where", "who"}
    assert 0.4 < changed / kept < 0.8, changed / kept  # most words, where the archive has another form


def test_no_sentence_means_no_question(places) -> None:
    assert make_question("وأضاف أن الاجتماع كان مثمرا وبناء.", places, random.Random(1)) is None


@pytest.mark.slow
@pytest.mark.skipif(not (ANT_INDEX / "sentence_vectors.npy").is_file(), reason="the archive's index (data/ant) is not built")
def test_training_examples_are_seeded_and_use_the_index_sentences_and_vectors() -> None:
    first, vectors = load_cloze(120, seed=3, archive=ANT, index=ANT_INDEX)
    again, _ = load_cloze(120, seed=3, archive=ANT, index=ANT_INDEX)
    assert first.examples == again.examples and first.sentences == again.sentences
    assert len(first.examples) == 120 and len(vectors) == len(first.sentences)
    rows = np.load(ANT_INDEX / "sentences.npy")
    index_vectors = np.load(ANT_INDEX / "sentence_vectors.npy", mmap_mode="r")
    doc_of = {r["id"]: i for i, r in enumerate(read_archive(ANT))}
    texts = {r["id"]: r["text"] for r in read_archive(ANT) if f"ant:{r['id']}" in {e.article for e in first.examples}}
    for example in first.examples:
        article = example.article.removeprefix("ant:")
        k = int(example.qid.split(":")[2])
        row = int(np.searchsorted(rows[:, 0], doc_of[article])) + k
        _, lo, hi = rows[row]
        assert first.sentences[example.gold] == texts[article][lo:hi]
        assert np.array_equal(vectors[example.gold], index_vectors[row])
        assert example.gold in example.sentences and len(example.sentences) >= 3
        others = [first.sentences[s] for s in example.sentences if s != example.gold]
        assert first.sentences[example.gold] not in others  # a copy of the positive is no negative
        assert words_of(example.question.split(" ", 1)[1]) - words_of(first.sentences[example.gold]) <= \
            words_of(example.question.split(" ")[1])  # every other word comes from the gold sentence


@pytest.mark.slow
@pytest.mark.skipif(not (ANT_INDEX / "sentence_vectors.npy").is_file(), reason="the archive's index (data/ant) is not built")
def test_hard_examples_are_seeded_shorter_and_leave_the_default_ones_alone() -> None:
    hard, vectors = load_cloze(120, seed=3, archive=ANT, index=ANT_INDEX, hard=True)
    again, _ = load_cloze(120, seed=3, archive=ANT, index=ANT_INDEX, hard=True)
    plain, _ = load_cloze(120, seed=3, archive=ANT, index=ANT_INDEX)
    assert hard.examples == again.examples and len(hard.examples) == 120 and len(vectors) == len(hard.sentences)
    assert np.mean([len(e.question.split()) for e in hard.examples]) < 0.5 * np.mean([len(e.question.split()) for e in plain.examples])
    # the default questions do not depend on the hard mode's existence: the same as before it
    assert plain.examples[0].question == "متى يلتقي عبد الله الثاني رئيس الوزراء هاني الملقي وسط شعبي واحتجاجات تدوم؟"


def test_an_index_of_another_corpus_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "sentences.npy", np.zeros((2, 3), np.int32))
    np.save(tmp_path / "sentence_vectors.npy", np.zeros((2, 384), np.float32))
    with pytest.raises(ValueError, match="does not index"):
        load_cloze(10, archive=ANT, index=tmp_path)
