"""The answer composer: the sentences of the retrieved passages that answer the question,
quoted verbatim with numbered citations; near-duplicates merged; abstains when unsupported.

    decide.py     the decision: DecisionConfig (the answerability model, every threshold), overrides (Decision + reason)
    catalog/      the wording of every message id, Arabic and English
    scoring.py    candidate sentences and their features (FEATURES, ANSWERABILITY)
    selection.py  neighbour lift, clause cuts, duplicates, knapsack, citations, highlights, abstention
    config.py     ComposerConfig (excerpt choice and length) and ComposerWeights (named weights, read from weights.json)
    composer.py   Composer: the steps in order
"""

from retrieval.answer.composer import Composer
from retrieval.answer.config import (
    DEFAULT_WEIGHTS,
    ComposerConfig,
    ComposerWeights,
    ComposerWeightsError,
    load_weights,
    save_weights,
)
from retrieval.answer.decide import DecisionConfig
from retrieval.answer.scoring import ANSWERABILITY, FEATURES, Candidate
from retrieval.answer.selection import clause_cut, highlight_spans
from retrieval.understand.qtype import query_stems, question_type

__all__ = [
    "ANSWERABILITY", "DEFAULT_WEIGHTS", "FEATURES", "Candidate", "Composer", "ComposerConfig", "ComposerWeights",
    "ComposerWeightsError", "DecisionConfig", "clause_cut", "highlight_spans", "load_weights", "query_stems",
    "question_type", "save_weights",
]
