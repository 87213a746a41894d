"""The decision, in one place: whether the passages answer the question (the answerability model), and every
threshold and override on it. The composer asks, this module decides; the decision is data (Decision + reason).
What it is tuned by is DecisionConfig (the model's weights and bias, every threshold), passed to the composer
beside ComposerConfig (which only chooses and cuts the excerpts); vary a copy with ``Pipeline.variant(decision=...)``.

1. ``answerability``: a logistic model over the ANSWERABILITY row (weights.json's "answerability" section,
   bench/fit_abstention.py).
2. ``nothing_to_read``: Latin-script input without a question word and with fewer than two words that are not
   stopwords, none of them a name the articles spell ("asdfgh", "news", "123"): probability 0 (the model, fitted
   on questions, read such words as answerable). "What is septicemia?" asks (XQuAD-en); "Rashad?" names.
3. the names floor: an English question whose names the top passages spell is abstained on only below
   ``names_abstain_threshold`` (shown as not sure from there), when the unsure band is on.
4. the unsure band: answered below ``unsure_below``, the answer leads with the "answer.unsure" message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from retrieval.answer.config import ComposerWeights, ComposerWeightsError, checked_answerability, load_weights
from retrieval.answer.scoring import Candidate
from retrieval.models import Decision
from retrieval.text.arabic import stem
from retrieval.understand.query import Query

__all__ = ["Decision", "DecisionConfig", "Verdict", "answerability", "decide", "names_spelled", "nothing_to_read", "shown"]

NAMES_TOP = 3  # the passages whose sentences must spell an English question's names


@dataclass(frozen=True)
class DecisionConfig:
    """Everything the decision is tuned by: the answerability model (one weight per ANSWERABILITY name and its
    bias; by default weights.json's "answerability" section) and the thresholds. Immutable and checked when
    built: vary a copy (``dataclasses.replace``, ``from_weights``, ``load``)."""

    # the answerability model, one weight per ANSWERABILITY name (bench/fit_abstention.py writes it to weights.json)
    answerability: Mapping[str, float] = field(default_factory=lambda: load_weights().answerability)
    answerability_bias: float = field(default_factory=lambda: load_weights().answerability_bias)  # the model's bias (same file)
    abstain_threshold: float = 0.3  # answer when the answerability model says at least this (bench/README.md)
    # answered below this, the answer leads with "may not answer the question" (Answer.unsure); 0, or
    # not above abstain_threshold, turns the band off. bench/fit_unsure.py (READER=off): the lowest edge
    # at which >= 90% of the unanswerable questions (seed + XQuAD-ar's 8 held-out articles) are abstained
    # or flagged on both article folds: 181/193 caught, 95 of 1,685 answerable questions flagged (their
    # excerpts hold the gold 0.52 of the time counting the flagged unanswerable ones, 0.88 above the edge)
    unsure_below: float = 0.5
    # an English question whose names the top passages spell (retrieval/understand/names.py: "Rashad" -> رشاد) is
    # abstained on only below this; from it up to abstain_threshold it is answered as not sure. Its words
    # share nothing with the Arabic sentences, so the model sees the vectors alone and abstains too often
    # ("Who met Rashad?"). bench/eval_names.py --floors: XQuAD-en answerable abstained 41 -> 28 of 1,190,
    # near-topic abstained or flagged 157 -> 157 of 177 (0.1: 27 and 157); in lower case 6 -> 2, 127 -> 127.
    # Only with the band on (unsure_below above abstain_threshold): such an answer is never shown as sure
    names_abstain_threshold: float = 0.2

    def __post_init__(self) -> None:
        try:
            weights, bias = checked_answerability(self.answerability, self.answerability_bias)
            for name in ("abstain_threshold", "unsure_below", "names_abstain_threshold"):
                value = getattr(self, name)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name} must be a probability between 0 and 1, not {value!r}")
                object.__setattr__(self, name, float(value))
        except ValueError as exc:
            raise ComposerWeightsError(f"Decision config: {exc}") from None
        object.__setattr__(self, "answerability", MappingProxyType(weights))
        object.__setattr__(self, "answerability_bias", bias)
        vector = np.array(list(weights.values()), dtype=np.float64)
        vector.flags.writeable = False
        object.__setattr__(self, "_answerability_vector", vector)

    @property
    def answerability_vector(self) -> np.ndarray:
        """The answerability weights in ANSWERABILITY order (read-only; without the bias)."""
        return self._answerability_vector

    @classmethod
    def from_weights(cls, weights: ComposerWeights, **thresholds: float) -> DecisionConfig:
        """The answerability model of a weights file's contents (``load_weights``), with the default thresholds
        or ``thresholds``."""
        return cls(answerability=weights.answerability, answerability_bias=weights.answerability_bias, **thresholds)

    @classmethod
    def load(cls, path: Path | str | None = None, **thresholds: float) -> DecisionConfig:
        """The answerability model of the weights file ``path`` (default: the shipped weights.json); a damaged
        file is refused with ComposerWeightsError naming the file, what is wrong and what it must hold."""
        return cls.from_weights(load_weights(path), **thresholds)


@dataclass(frozen=True)
class Verdict:
    """Whether to answer (``decision``: ANSWERED or ABSTAINED; UNSURE is known once the excerpts are chosen,
    ``shown``), the model's probability, and why."""

    decision: Decision
    probability: float
    reason: str


def answerability(row: np.ndarray, config: DecisionConfig) -> float:
    """Probability that the passages answer the question (logistic model over ANSWERABILITY)."""
    return float(1 / (1 + np.exp(-(row @ config.answerability_vector + config.answerability_bias))))


def names_spelled(query: Query, cands: list[Candidate], top: int = NAMES_TOP) -> bool:
    """Whether ``query`` is asked in English and the sentences of the ``top`` passages spell its Latin names
    (the spellings Understand found, understand/names.py)."""
    if query.language != "en":
        return False
    wanted = {stem(t[1:]) if t.startswith("=") else t for t in query.name_terms}
    return bool(wanted) and any(wanted & c.stems for c in cands if c.passage.rank <= top)


def nothing_to_read(query: Query, cands: list[Candidate]) -> bool:
    """Latin-script input the Arabic index cannot read (see the module's docstring)."""
    if query.language != "en" or query.asks:
        return False
    return query.content_words < 2 and not names_spelled(query, cands)


def decide(query: Query, row: np.ndarray, cands: list[Candidate], config: DecisionConfig) -> Verdict:
    """Answer or abstain, from the question's ANSWERABILITY ``row`` and its candidate sentences (their
    ``stems`` set by the sentence features)."""
    probability = answerability(row, config)
    if nothing_to_read(query, cands):
        return Verdict(Decision.ABSTAINED, 0.0, "nothing_to_read")
    threshold, reason = config.abstain_threshold, "answerable"
    if probability < threshold and config.unsure_below > threshold and names_spelled(query, cands):
        threshold, reason = min(threshold, config.names_abstain_threshold), "names_spelled"  # "Who met Rashad?"
    if probability < threshold:
        return Verdict(Decision.ABSTAINED, probability, "below_threshold")
    return Verdict(Decision.ANSWERED, probability, reason)


def shown(verdict: Verdict, has_excerpts: bool, config: DecisionConfig) -> tuple[Decision, str | None]:
    """The decision once the excerpts are chosen, and the message id that leads them: in the unsure band
    (answered below ``unsure_below``) the answer says the excerpts may not answer the question."""
    if has_excerpts and verdict.probability < config.unsure_below:
        return Decision.UNSURE, "answer.unsure"
    return Decision.ANSWERED, None
