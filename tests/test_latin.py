"""Latin-script names find their Arabic spelling in the index (retrieval/understand/names.py): the real seed index."""

from __future__ import annotations

import dataclasses

import pytest

from retrieval.backends.bm25 import Bm25sIndex, RankBm25Index
from retrieval.backends.local import LocalBackend
from retrieval.pipeline import Pipeline
from retrieval.text.arabic import analyze
from retrieval.understand.names import NameBridge, latin_names, skeleton, sounds_alike


def test_a_name_and_its_arabic_spelling_share_a_skeleton() -> None:
    from anyascii import anyascii

    for latin, arabic in [("Witkoff", "ويتكوف"), ("Rashad", "رشاد"), ("Blinken", "بلينكن"), ("Netanyahu", "نتنياهو"),
                          ("Trump", "ترامب"), ("Steve", "ستيف")]:
        assert skeleton(latin) == skeleton(anyascii(arabic)), (latin, arabic)
        assert sounds_alike(latin, arabic)


def test_common_words_that_share_a_skeleton_are_kept_out() -> None:
    # an initial alef wants a Latin initial vowel; more written long vowels than Latin vowels is another word
    assert not sounds_alike("Prize", "ابرز")
    assert not sounds_alike("Most", "مستوي")
    assert not sounds_alike("Witkoff", "توقف")  # too short to spell a seven-letter name


def test_only_capitalised_words_that_may_be_names_are_looked_up() -> None:
    assert latin_names("Who did Hassan Rashad meet in Jerusalem?") == ["Hassan", "Rashad", "Jerusalem"]
    assert latin_names("who met rashad in jerusalem?") == ["rashad", "jerusalem"]  # no capitals: words of 4+ letters
    assert latin_names("Who met rashad?") == []  # with capitals, the lower-case words are not names
    assert latin_names("من التقى رشاد؟") == []
    assert latin_names("When did President Sisi meet Blinken and Blinken's team?") == ["Sisi", "Blinken", "Blinken's"]


def test_the_seed_index_spells_the_names_of_an_english_question(seed_pipeline: Pipeline) -> None:
    spellings = seed_pipeline.index.lexicon.names.spellings("On which day did Hassan Rashad receive Steve Witkoff in Cairo?")
    assert set(spellings) == {"Rashad", "Steve", "Witkoff"}  # Hassan's skeleton ("sn") is too short to look up
    assert "رشاد" in spellings["Rashad"] and "ستيف" in spellings["Steve"] and "=ويتكوف" in spellings["Witkoff"]
    # every spelling is a term of the index, and the composer's stems are the ones its sentences have
    assert all(seed_pipeline.index.backend.idf([t])[0] > 0 for terms in spellings.values() for t in terms)
    assert seed_pipeline.index.lexicon.names.spellings("من التقى رشاد؟") == {}


def test_every_bm25_backend_lists_the_same_vocabulary(seed_pipeline: Pipeline) -> None:
    corpus = [analyze(seed_pipeline.index.chunk(i)[3]) for i in range(len(seed_pipeline.index.chunk_sentences))]
    tables = []
    for cls in (Bm25sIndex, RankBm25Index):
        bm25 = cls()
        bm25.build(corpus)
        tables.append(bm25.term_frequencies())
    assert tables[0] == tables[1]
    assert tables[0]["رشاد"] == sum("رشاد" in terms for terms in corpus)
    backend = seed_pipeline.index.backend
    assert isinstance(backend, LocalBackend) and backend.term_frequencies() == tables[0]
    assert NameBridge(tables[0]).spellings("Rashad?") == {"Rashad": ["رشاد"]}


@pytest.mark.parametrize("question", ["Who won the Nobel Peace Prize in 2023?", "What is the population of Jerusalem?"])
def test_english_questions_the_articles_do_not_answer_are_not_answered_sure(seed_pipeline: Pipeline, question: str) -> None:
    answer = seed_pipeline.answer(question)
    assert answer.abstained or answer.unsure, answer.text


def test_the_names_search_the_article_that_spells_them(seed_pipeline: Pipeline) -> None:
    # BM25 alone: the English words match nothing, the spelled names find the meeting's article
    question = "Who did Hassan Rashad meet in Jerusalem?"
    passages = seed_pipeline.answer(question, mode="bm25").passages
    assert passages and passages[0].doc_id == "000_bfedeb9d58756a4b"
    assert not seed_pipeline.answer("Who did the intelligence chief meet?", mode="bm25").passages
    assert seed_pipeline.answer("who did hassan rashad meet in jerusalem?", mode="bm25").passages[0].doc_id == \
        "000_bfedeb9d58756a4b"


def test_an_english_question_whose_names_the_articles_spell_is_shown_as_not_sure(seed_pipeline: Pipeline) -> None:
    """DecisionConfig.names_abstain_threshold: "Who met Rashad?" is below the abstain threshold (its words
    share nothing with the Arabic sentences) but its name is in the top passages, so it is answered with the
    notice instead of refused; without the floor it is refused. A question whose names the articles do not
    spell ("What is the capital of Japan?") is refused either way."""
    config = seed_pipeline.composer.decision
    answer = seed_pipeline.answer("Who met Rashad?")
    assert config.names_abstain_threshold <= answer.confidence < config.abstain_threshold
    assert not answer.abstained and answer.unsure and "نتنياهو" in answer.text and "ويتكوف" in answer.text
    floor_off = seed_pipeline.variant(decision=dataclasses.replace(config, names_abstain_threshold=config.abstain_threshold))
    assert floor_off.answer("Who met Rashad?").abstained
    assert seed_pipeline.answer("What is the capital of Japan?").abstained
    assert not seed_pipeline.answer("من التقى رشاد؟").unsure  # Arabic questions: the floor does not apply
