"""What the composer is tuned by: ComposerConfig (how excerpts are scored, chosen and cut: budgets, margins) and
ComposerWeights (one weight per named feature), read from weights.json, the file that
bench/fit_composer.py and bench/fit_abstention.py write. The file's "answerability" section is the decision's
(answer/decide.py's DecisionConfig reads it, with the thresholds); the composer scores sentences with "sentence".

The file is plain JSON, read with ``json.loads`` (nothing in it is executed), and checked:
every feature of FEATURES / ANSWERABILITY must be named exactly once, each with a finite number.

    {"format": "composer-weights/1",
     "note": "free text: where the weights came from",
     "sentence": {"dense": 5.0, "coverage": 0.3, ...},
     "answerability": {"weights": {"best_sentence_dense": 18.381, ...}, "bias": -27.303}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import numpy as np

from retrieval.answer.scoring import ANSWERABILITY, FEATURES
from retrieval.errors import RetrievalError

WEIGHTS_FORMAT = "composer-weights/1"
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights.json"


class ComposerWeightsError(RetrievalError):
    """The composer's weights file is missing, not JSON, or does not name the features it must."""


@dataclass(frozen=True)
class ComposerWeights:
    """The sentence-scoring weights (one per FEATURES name) and the answerability model (one
    weight per ANSWERABILITY name, plus its bias). Immutable: change it with ``replace``."""

    sentence: Mapping[str, float]
    answerability: Mapping[str, float]
    answerability_bias: float
    note: str = ""

    def __post_init__(self) -> None:
        try:
            sentence, answerability, bias = _checked(self.sentence, self.answerability, self.answerability_bias)
        except ValueError as exc:
            raise ComposerWeightsError(f"Composer weights: {exc}. {_EXPECTED}") from None
        # stored in the features' order, read-only: the composer multiplies its feature rows by them
        object.__setattr__(self, "sentence", MappingProxyType(sentence))
        object.__setattr__(self, "answerability", MappingProxyType(answerability))
        object.__setattr__(self, "answerability_bias", bias)
        object.__setattr__(self, "_sentence_vector", _frozen_array(sentence.values()))
        object.__setattr__(self, "_answerability_vector", _frozen_array(answerability.values()))

    @property
    def sentence_vector(self) -> np.ndarray:
        """The sentence weights as a vector in FEATURES order (read-only)."""
        return self._sentence_vector

    @property
    def answerability_vector(self) -> np.ndarray:
        """The answerability weights in ANSWERABILITY order (read-only; without the bias)."""
        return self._answerability_vector

    def replace(self, *, sentence: Mapping[str, float] | None = None, answerability: Mapping[str, float] | None = None,
                answerability_bias: float | None = None, note: str | None = None) -> ComposerWeights:
        """A copy with some weights changed; a partial mapping changes only the features it names."""
        return ComposerWeights(
            sentence={**self.sentence, **(sentence or {})},
            answerability={**self.answerability, **(answerability or {})},
            answerability_bias=self.answerability_bias if answerability_bias is None else answerability_bias,
            note=self.note if note is None else note,
        )

    def to_json(self) -> dict:
        out: dict = {"format": WEIGHTS_FORMAT}
        if self.note:
            out["note"] = self.note
        out["sentence"] = dict(self.sentence)
        out["answerability"] = {"weights": dict(self.answerability), "bias": self.answerability_bias}
        return out

    @classmethod
    def from_json(cls, data: object, source: str = "composer weights") -> ComposerWeights:
        """Check the parsed JSON of a weights file and build the weights; ComposerWeightsError says what is wrong."""
        try:
            if not isinstance(data, dict):
                raise ValueError("the file must hold a JSON object")
            _only(data, {"format", "note", "sentence", "answerability"}, {"format", "sentence", "answerability"}, "the file")
            if data["format"] != WEIGHTS_FORMAT:
                raise ValueError(f'"format" is {data["format"]!r}; this version reads {WEIGHTS_FORMAT!r}')
            if not isinstance(data.get("note", ""), str):
                raise ValueError('"note" must be a string')
            abstain = data["answerability"]
            if not isinstance(abstain, dict):
                raise ValueError('"answerability" must be an object with "weights" and "bias"')
            _only(abstain, {"weights", "bias"}, {"weights", "bias"}, '"answerability"')
            _checked(data["sentence"], abstain["weights"], abstain["bias"])
        except ValueError as exc:
            raise ComposerWeightsError(f"{source}: {exc}. {_EXPECTED}") from None
        return cls(sentence=data["sentence"], answerability=abstain["weights"], answerability_bias=abstain["bias"],
                   note=data.get("note", ""))


def load_weights(path: Path | str | None = None) -> ComposerWeights:
    """The weights in ``path`` (default: the shipped weights.json), checked."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if path == DEFAULT_WEIGHTS:
        return _shipped()
    return _read(path)


def save_weights(weights: ComposerWeights, path: Path | str) -> None:
    """Write ``weights`` in the format load_weights reads (replacing the file whole, so a reader
    never sees half of it)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(weights.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


@dataclass
class ComposerConfig:
    max_excerpts: int = 5
    max_chars: int = 530
    more_excerpts: int = 6
    # the sentence weights, one per FEATURES name (bench/fit_composer.py); the file's answerability model is
    # read by the decision (answer/decide.py, DecisionConfig), not from here
    weights: ComposerWeights = field(default_factory=lambda: load_weights())
    w_new_source: float = 0.0  # score bonus for an excerpt from an article not yet shown
    other_source_margin: float = 0.7  # within this of the best score, another article's best sentence is shown
    other_source_coverage: float = 0.4  # ... when it holds this share of the question's terms
    temperature: float = 0.2  # of the softmax that turns scores into answer probabilities
    knapsack_pool: int = 15  # candidates considered for the rest of the budget
    max_excerpt_chars: int = 350  # longer sentences are cut at a clause boundary (0 = never)
    duplicate_jaccard: float = 0.6
    # a sentence next to a strong one often holds the answer ("...; this is called X."):
    # each score gains this share of its best neighbour's score (relative to the best score)
    neighbour_weight: float = 0.1
    # the reader's similarities (retrieval/reader) spread several times wider than plain e5's (0.27-0.32
    # against 0.774-0.780 on one seed question), so they count this fraction of the "dense" weight
    # (bench/eval_reader.py --scales, cross-fitted)
    reader_scale: float = 1.0


_EXPECTED = (f"Expected {{\"format\": \"{WEIGHTS_FORMAT}\", \"sentence\": {{one number for each of {', '.join(FEATURES)}}}, "
             f"\"answerability\": {{\"weights\": {{one number for each of {', '.join(ANSWERABILITY)}}}, \"bias\": number}}}}"
             " (bench/fit_composer.py and bench/fit_abstention.py --write produce it;"
             " 'git checkout retrieval/answer/weights.json' restores the shipped file).")


@lru_cache(maxsize=1)
def _shipped() -> ComposerWeights:
    # read once per process: every Pipeline and ComposerConfig shares the (immutable) shipped weights
    return _read(DEFAULT_WEIGHTS)


def _read(path: Path) -> ComposerWeights:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposerWeightsError(f"The composer weights file {path} does not exist. {_EXPECTED}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposerWeightsError(f"The composer weights file {path} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ComposerWeightsError(f"The composer weights file {path} is not valid JSON ({exc}). {_EXPECTED}") from None
    return ComposerWeights.from_json(data, source=f"The composer weights file {path}")


def _checked(sentence: object, answerability: object, bias: object) -> tuple[dict[str, float], dict[str, float], float]:
    """The weights as floats in the features' order; ValueError saying what is wrong."""
    return (_named(sentence, FEATURES, "sentence"), _named(answerability, ANSWERABILITY, "answerability.weights"),
            _number(bias, "answerability.bias"))


def checked_answerability(weights: object, bias: object) -> tuple[dict[str, float], float]:
    """An answerability model's weights as floats in ANSWERABILITY order and its bias; ValueError saying what is wrong."""
    return _named(weights, ANSWERABILITY, "answerability.weights"), _number(bias, "answerability.bias")


def _named(values: object, names: tuple[str, ...], what: str) -> dict[str, float]:
    """``values`` as {name: float} in ``names`` order; ValueError naming unknown or missing names."""
    if not isinstance(values, Mapping):
        raise ValueError(f'"{what}" must be an object of feature name -> weight')
    _only(values, set(names), set(names), f'"{what}"')
    return {name: _number(values[name], f"{what}.{name}") for name in names}


def _only(values: Mapping, allowed: set[str], required: set[str], what: str) -> None:
    unknown = sorted(set(values) - allowed, key=str)
    missing = sorted(required - set(values))
    problems = []
    if unknown:
        problems.append(f"unknown name(s) {', '.join(map(repr, unknown))}")
    if missing:
        problems.append(f"missing {', '.join(map(repr, missing))}")
    if problems:
        raise ValueError(f"{what} has {' and '.join(problems)}")


def _number(value: object, what: str) -> float:
    # bool is an int in Python, and true/false in a weights file is a mistake, not a weight
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f'"{what}" must be a finite number, not {value!r}')
    return float(value)


def _frozen_array(values) -> np.ndarray:
    array = np.array(list(values), dtype=np.float64)
    array.flags.writeable = False
    return array
