"""The question's need, checked against the sentences the composer would show (issue "Honest at archive scale").

Over an archive, near-topic passages are common: a sentence about the same people and place that does not hold
what the question asks. These features read the question's need (its content stems weighted by IDF, its key
terms, the type of thing it asks for) against the candidate sentences, the chosen one and its neighbours, and the
margins and agreement of the signals. Pure functions over plain inputs (``NeedSentence``, dicts, strings), so they
are testable without an index; ``bench/fit_need.py`` builds the inputs from a pipeline and fits a model on them
(retrieval/answer/need_weights.json).

Groups (``NEED_GROUPS``; bench/fit_need.py drops one at a time):

    coverage   IDF-weighted coverage of the question's stems by a sentence and its neighbours; the rarest term
    type       the asked-for type present (a date for متى, a number for كم, a person for من, a place for أين)
    cooccur    the question's key terms (highest IDF) together in one sentence; the names in the chosen sentence
    margin     best against next sentence score and passage score; how many articles the top passages come from
    agreement  whether the dense, the coverage and the sentence-model choices agree, and with the top passage
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.text.arabic import tokenize
from retrieval.understand.qtype import type_match

__all__ = ["NEED_FEATURES", "NEED_GROUPS", "NeedSentence", "need_features", "need_row", "place_match", "term_weights"]

NEED_GROUPS: dict[str, tuple[str, ...]] = {
    "coverage": ("window_coverage", "chosen_coverage", "chosen_window_coverage", "rare_term_chosen", "missing_weight"),
    "type": ("typed", "type_chosen", "type_window", "type_top"),
    "cooccur": ("key_terms_together", "key_terms_chosen", "names_chosen"),
    "margin": ("sentence_margin", "passage_margin", "docs_top3"),
    "agreement": ("dense_coverage_agree", "chosen_top_passage", "signals_agree", "chosen_dense"),
}
NEED_FEATURES: tuple[str, ...] = tuple(name for names in NEED_GROUPS.values() for name in names)

KEY_TERMS = 2  # the question's key terms: its known stems of highest IDF
UNKNOWN_WEIGHT = 0.5  # a stem the index does not know still counts a little (as scoring.sentence_features)
TYPED = ("number", "time", "person", "place")

# words that name or introduce a place (type_match never matches "place": the words alone rarely show one)
_PLACE_WORDS = frozenset({
    "مدينه", "مدينة", "محافظه", "محافظة", "دوله", "دولة", "عاصمه", "عاصمة", "بلده", "بلدة", "منطقه", "منطقة", "ولايه",
    "ولاية", "قريه", "قرية", "اقليم", "إقليم", "حي", "شمال", "جنوب", "شرق", "غرب", "شمالي", "جنوبي", "شرقي", "غربي",
    "مقر", "ميناء", "مطار", "جزيره", "جزيرة", "city", "country", "capital", "province", "region", "town", "village",
})


@dataclass(frozen=True)
class NeedSentence:
    """One candidate sentence as the need features read it."""

    text: str
    stems: frozenset[str]
    sentence_index: int  # in the index: index +- 1 of the same document are its neighbours
    doc: int
    passage_rank: int  # 1 = the top passage
    passage_score: float
    dense: float  # similarity to the question's vector
    score: float  # the sentence model's score (the composer's choice is the highest)


def term_weights(idf: Mapping[str, float]) -> dict[str, float]:
    """Each question stem's weight: its IDF, ``UNKNOWN_WEIGHT`` when the index does not know it."""
    return {t: w if w > 0 else UNKNOWN_WEIGHT for t, w in idf.items()}


def place_match(text: str) -> float:
    """1 when the sentence names a place by a place word ("مدينة", "شمال", "العاصمة")."""
    return 1.0 if any(t in _PLACE_WORDS or t[2:] in _PLACE_WORDS for t in tokenize(text)) else 0.0


def _type_present(qtype: str, text: str) -> float:
    return place_match(text) if qtype == "place" else type_match(qtype, text)


def _coverage(stems: Iterable[str], weights: Mapping[str, float], total: float) -> float:
    have = set(stems)
    return sum(w for t, w in weights.items() if t in have) / total if total else 0.0


def need_features(question_type: str, idf: Mapping[str, float], names: Iterable[str],
                  sentences: Sequence[NeedSentence]) -> dict[str, float]:
    """The NEED_FEATURES of one question: ``question_type`` (Query.answer_type), ``idf`` of its stems (stem -> IDF,
    0 or less: unknown to the index), ``names`` (stems of the names it asks about), the candidate ``sentences``."""
    out = dict.fromkeys(NEED_FEATURES, 0.0)
    typed = question_type in TYPED
    out["typed"] = float(typed)
    if not sentences:
        out["missing_weight"] = 1.0
        return out
    weights = term_weights(idf)
    total = sum(weights.values())
    by_index = {(s.doc, s.sentence_index): s for s in sentences}

    def window(s: NeedSentence) -> list[NeedSentence]:
        return [n for i in (-1, 0, 1) if (n := by_index.get((s.doc, s.sentence_index + i))) is not None]

    def window_stems(s: NeedSentence) -> set[str]:
        return set().union(*(n.stems for n in window(s)))

    coverage = np.array([_coverage(s.stems, weights, total) for s in sentences])
    window_cov = np.array([_coverage(window_stems(s), weights, total) for s in sentences])
    scores = np.array([s.score for s in sentences])
    dense = np.array([s.dense for s in sentences])
    chosen_at = int(np.argmax(scores))
    chosen = sentences[chosen_at]
    chosen_window = window_stems(chosen)

    out["window_coverage"] = float(window_cov.max())
    out["chosen_coverage"] = float(coverage[chosen_at])
    out["chosen_window_coverage"] = float(window_cov[chosen_at])
    known = sorted((t for t, w in idf.items() if w > 0), key=lambda t: (-idf[t], t))
    out["rare_term_chosen"] = float(bool(known) and known[0] in chosen_window)
    everywhere = set().union(*(s.stems for s in sentences))
    out["missing_weight"] = sum(w for t, w in weights.items() if t not in everywhere) / total if total else 0.0

    if typed:
        out["type_chosen"] = _type_present(question_type, chosen.text)
        out["type_window"] = max(_type_present(question_type, n.text) for n in window(chosen))
        top = [s for s in sentences if s.passage_rank == 1] or list(sentences)
        best_top = max(top, key=lambda s: s.score)
        out["type_top"] = _type_present(question_type, best_top.text)
    else:
        out["type_chosen"] = out["type_window"] = out["type_top"] = 1.0

    key = known[:KEY_TERMS]
    if key:
        out["key_terms_together"] = max(sum(t in s.stems for t in key) / len(key) for s in sentences)
        out["key_terms_chosen"] = sum(t in chosen_window for t in key) / len(key)
    wanted = set(names)
    out["names_chosen"] = len(wanted & chosen_window) / len(wanted) if wanted else 1.0

    ordered = np.sort(scores)[::-1]
    out["sentence_margin"] = float(ordered[0] - ordered[1]) if len(ordered) > 1 else 1.0
    passages: dict[int, tuple[float, int]] = {}
    for s in sentences:
        passages.setdefault(s.passage_rank, (s.passage_score, s.doc))
    ranked = [passages[r] for r in sorted(passages)]
    top_score = ranked[0][0]
    out["passage_margin"] = float((top_score - ranked[1][0]) / top_score) if len(ranked) > 1 and top_score > 0 else 1.0
    out["docs_top3"] = len({doc for _, doc in ranked[:3]}) / 3

    best_dense, best_cov = int(np.argmax(dense)), int(np.argmax(coverage))
    out["dense_coverage_agree"] = float(sentences[best_dense].doc == sentences[best_cov].doc)
    out["chosen_top_passage"] = float(chosen.passage_rank == 1)
    top_doc = ranked[0][1]
    out["signals_agree"] = sum(sentences[i].doc == top_doc for i in (best_dense, best_cov, chosen_at)) / 3
    out["chosen_dense"] = float(dense[chosen_at])
    return out


def need_row(values: Mapping[str, float], names: Sequence[str] = NEED_FEATURES) -> np.ndarray:
    """The features as a vector in the order ``names``."""
    return np.array([float(values[n]) for n in names])
