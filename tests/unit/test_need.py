"""The need features (retrieval/answer/need.py) on plain inputs, no index."""

from __future__ import annotations

import pytest

from retrieval.answer.need import NEED_FEATURES, NEED_GROUPS, NeedSentence, need_features, need_row, place_match


def sent(text, stems, index, doc=0, rank=1, pscore=1.0, dense=0.5, score=1.0):
    return NeedSentence(text, frozenset(stems), index, doc, rank, pscore, dense, score)


IDF = {"اغتيال": 5.0, "خاشقجي": 8.0, "قنصليه": 4.0}


def test_groups_cover_features_once():
    assert len(NEED_FEATURES) == len(set(NEED_FEATURES)) == sum(len(v) for v in NEED_GROUPS.values())


def test_no_sentences():
    out = need_features("time", IDF, [], [])
    assert out["missing_weight"] == 1.0 and out["typed"] == 1.0 and out["window_coverage"] == 0.0


def test_coverage_by_sentence_and_neighbours():
    sentences = [sent("قتل خاشقجي في القنصلية.", {"خاشقجي", "قنصليه"}, 10, score=2.0),
                 sent("وكان ذلك اغتيالا.", {"اغتيال"}, 11, score=1.0)]
    out = need_features("other", IDF, [], sentences)
    assert out["chosen_coverage"] == pytest.approx(12 / 17)
    assert out["chosen_window_coverage"] == pytest.approx(1.0)  # the neighbour holds the third term
    assert out["window_coverage"] == pytest.approx(1.0)
    assert out["rare_term_chosen"] == 1.0 and out["missing_weight"] == 0.0
    assert out["key_terms_together"] == 0.5  # the two rarest (خاشقجي, اغتيال) are in the window, not in one sentence
    assert out["key_terms_chosen"] == 1.0
    assert out["typed"] == 0.0 and out["type_chosen"] == 1.0


def test_key_terms_apart_and_missing():
    sentences = [sent("خاشقجي صحفي.", {"خاشقجي"}, 1, doc=0, score=2.0),
                 sent("اغتيال آخر.", {"اغتيال"}, 5, doc=1, rank=2, pscore=0.5, score=1.0)]
    out = need_features("other", IDF, [], sentences)
    assert out["key_terms_together"] == 0.5 and out["key_terms_chosen"] == 0.5
    assert out["missing_weight"] == pytest.approx(4 / 17)
    assert out["passage_margin"] == pytest.approx(0.5) and out["docs_top3"] == pytest.approx(2 / 3)
    assert out["sentence_margin"] == pytest.approx(1.0)


def test_unknown_terms_weigh_a_little():
    out = need_features("other", {"زززز": 0.0, "خاشقجي": 8.0}, [], [sent("خاشقجي", {"خاشقجي"}, 0)])
    assert out["chosen_coverage"] == pytest.approx(8 / 8.5)
    assert out["rare_term_chosen"] == 1.0


@pytest.mark.parametrize(("qtype", "text", "want"), [
    ("time", "وصل في عام 2018 إلى الرياض.", 1.0),
    ("time", "وصل إلى الرياض.", 0.0),
    ("number", "قتل 12 شخصا.", 1.0),
    ("number", "قتل أشخاص.", 0.0),
    ("place", "وقع الانفجار في مدينة حلب.", 1.0),
    ("place", "وقع الانفجار أمس.", 0.0),
])
def test_asked_type(qtype, text, want):
    out = need_features(qtype, IDF, [], [sent(text, {"انفجار"}, 0)])
    assert out["type_chosen"] == want and out["typed"] == 1.0


def test_place_words():
    assert place_match("في العاصمة") == 1.0 and place_match("the capital city") == 1.0 and place_match("قال") == 0.0


def test_names_and_agreement():
    sentences = [sent("a", {"رشاد"}, 0, doc=3, dense=0.9, score=3.0), sent("b", {"خاشقجي"}, 7, doc=4, rank=2, dense=0.2, score=0.0)]
    out = need_features("person", IDF, ["رشاد"], sentences)
    assert out["names_chosen"] == 1.0
    assert out["dense_coverage_agree"] == 0.0  # dense picks doc 3, coverage doc 4
    assert out["chosen_top_passage"] == 1.0 and out["signals_agree"] == pytest.approx(2 / 3)
    assert out["chosen_dense"] == pytest.approx(0.9)
    assert need_row(out).shape == (len(NEED_FEATURES),)
