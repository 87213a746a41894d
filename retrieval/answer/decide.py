"""The decision, in one place: whether the passages answer the question (the answerability model), and every
threshold and override on it. The composer asks, this module decides; the decision is data (Decision + reason).

1. ``answerability``: a logistic model over the ANSWERABILITY row (weights.json, bench/fit_abstention.py).
2. ``nothing_to_read``: Latin-script input without a question word and with fewer than two words that are not
   stopwords, none of them a name the articles spell ("asdfgh", "news", "123"): probability 0 (the model, fitted
   on questions, read such words as answerable). "What is septicemia?" asks (XQuAD-en); "Rashad?" names.
3. the names floor: an English question whose names the top passages spell is abstained on only below
   ``names_abstain_threshold`` (shown as not sure from there), when the unsure band is on.
4. the unsure band: answered below ``unsure_below``, the answer leads with the "answer.unsure" message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval.answer.config import ComposerConfig
from retrieval.answer.scoring import Candidate
from retrieval.models import Decision
from retrieval.text.arabic import stem
from retrieval.understand.query import Query

__all__ = ["Decision", "Verdict", "answerability", "decide", "names_spelled", "nothing_to_read", "shown"]

NAMES_TOP = 3  # the passages whose sentences must spell an English question's names


@dataclass(frozen=True)
class Verdict:
    """Whether to answer (``decision``: ANSWERED or ABSTAINED; UNSURE is known once the excerpts are chosen,
    ``shown``), the model's probability, and why."""

    decision: Decision
    probability: float
    reason: str


def answerability(row: np.ndarray, config: ComposerConfig) -> float:
    """Probability that the passages answer the question (logistic model over ANSWERABILITY)."""
    weights = config.weights
    return float(1 / (1 + np.exp(-(row @ weights.answerability_vector + weights.answerability_bias))))


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


def decide(query: Query, row: np.ndarray, cands: list[Candidate], config: ComposerConfig) -> Verdict:
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


def shown(verdict: Verdict, has_excerpts: bool, config: ComposerConfig) -> tuple[Decision, str | None]:
    """The decision once the excerpts are chosen, and the message id that leads them: in the unsure band
    (answered below ``unsure_below``) the answer says the excerpts may not answer the question."""
    if has_excerpts and verdict.probability < config.unsure_below:
        return Decision.UNSURE, "answer.unsure"
    return Decision.ANSWERED, None
