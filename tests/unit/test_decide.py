"""The decision module on plain inputs: no index, a hand-made Query and candidates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from retrieval.answer.config import ComposerWeightsError, load_weights
from retrieval.answer.decide import DecisionConfig, decide, nothing_to_read, shown
from retrieval.answer.scoring import ANSWERABILITY, Candidate
from retrieval.models import Decision, Passage
from retrieval.understand.query import Query

CONFIG = DecisionConfig()


def _row(probability_logit: float) -> np.ndarray:
    """A row whose logistic output is sigmoid(``probability_logit``) under the shipped weights."""
    row = np.zeros(len(ANSWERABILITY))
    row[0] = (probability_logit - CONFIG.answerability_bias) / CONFIG.answerability_vector[0]
    return row


def _cand(stems: set[str], rank: int = 1) -> Candidate:
    passage = Passage(chunk_index=0, doc_id="d", title="t", source="s", start=0, end=1, text="x", score=1.0, rank=rank,
                      citation="[1]")
    return Candidate(passage, 0, 0, 1, "x", 0, stems=stems)


def test_answers_above_the_threshold_and_abstains_below() -> None:
    query = Query(text="من التقى رشاد؟", asks=True, content_words=2)
    assert decide(query, _row(3.0), [_cand(set())], CONFIG).decision is Decision.ANSWERED
    low = decide(query, _row(-3.0), [_cand(set())], CONFIG)
    assert low.decision is Decision.ABSTAINED and low.reason == "below_threshold"


def test_the_unsure_band_is_data() -> None:
    query = Query(text="q", asks=True, content_words=2)
    verdict = decide(query, _row(0.0), [_cand(set())], CONFIG)  # probability 0.5 - epsilon... at the edge
    assert shown(dataclasses.replace(verdict, probability=0.4), True, CONFIG) == (Decision.UNSURE, "answer.unsure")
    assert shown(dataclasses.replace(verdict, probability=0.9), True, CONFIG) == (Decision.ANSWERED, None)


def test_latin_input_with_nothing_to_read_is_abstained() -> None:
    query = Query(text="asdfgh", language="en", asks=False, content_words=1)
    assert nothing_to_read(query, [_cand(set())])
    verdict = decide(query, _row(5.0), [_cand(set())], CONFIG)
    assert (verdict.decision, verdict.probability, verdict.reason) == (Decision.ABSTAINED, 0.0, "nothing_to_read")


def test_english_names_the_passages_spell_lower_the_threshold() -> None:
    query = Query(text="Who met Rashad?", language="en", asks=True, content_words=2, names={"Rashad": ["رشاد"]})
    logit = float(np.log(0.25 / 0.75))  # 0.25: below abstain_threshold 0.3, above the names floor 0.2
    spelled = decide(query, _row(logit), [_cand({"رشاد"})], CONFIG)
    assert spelled.decision is Decision.ANSWERED and spelled.reason == "names_spelled"
    assert decide(query, _row(logit), [_cand(set())], CONFIG).decision is Decision.ABSTAINED


def test_the_decision_config_holds_the_shipped_model_and_thresholds() -> None:
    shipped = load_weights()
    assert (CONFIG.abstain_threshold, CONFIG.unsure_below, CONFIG.names_abstain_threshold) == (0.3, 0.5, 0.2)
    assert dict(CONFIG.answerability) == dict(shipped.answerability)
    assert CONFIG.answerability_bias == shipped.answerability_bias
    assert CONFIG.answerability_vector.tolist() == [shipped.answerability[name] for name in ANSWERABILITY]
    assert DecisionConfig.from_weights(shipped) == CONFIG == DecisionConfig.load()


def test_the_thresholds_are_data_varied_on_copies() -> None:
    query = Query(text="q", asks=True, content_words=2)
    row = _row(float(np.log(0.25 / 0.75)))  # 0.25
    assert decide(query, row, [_cand(set())], CONFIG).decision is Decision.ABSTAINED
    lower = dataclasses.replace(CONFIG, abstain_threshold=0.2)
    assert decide(query, row, [_cand(set())], lower).decision is Decision.ANSWERED
    assert CONFIG.abstain_threshold == 0.3  # the original is unchanged (frozen)


@pytest.mark.parametrize(("change", "message"), [
    ({"unsure_below": 1.5}, "unsure_below must be a probability"),
    ({"abstain_threshold": float("nan")}, "abstain_threshold must be a probability"),
    ({"answerability": {"latin": 1.0}}, "missing"),
    ({"answerability_bias": float("inf")}, '"answerability.bias" must be a finite number'),
])
def test_a_damaged_decision_config_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ComposerWeightsError, match=message):
        dataclasses.replace(CONFIG, **change)
