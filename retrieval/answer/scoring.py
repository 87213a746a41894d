"""Sentence scoring: the candidate sentences of the retrieved passages, the features each is
scored on (FEATURES, a linear model), and the features that decide whether to answer at all
(ANSWERABILITY, a logistic model). The weights of both are in config.py / weights.json."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from retrieval.index import Index
from retrieval.models import Passage
from retrieval.text.arabic import STOPWORDS, stem, tokenize
from retrieval.understand.qtype import type_match
from retrieval.understand.query import Query

# what a candidate sentence is scored on (a linear model; ComposerWeights.sentence names one weight each)
FEATURES = (
    "dense",  # similarity of the sentence's vector to the question's
    "coverage",  # share of the question's stemmed terms (IDF-weighted) in the sentence
    "exact",  # share of the question's words present unstemmed
    "type",  # holds what the question word asks for (number, time, person)
    "rank",  # 1 / retrieval rank of its passage
    "passage",  # its passage's fused score / the best passage's
    "short",  # under 40 characters or a bullet: a heading or list fragment
    "length",  # characters / 100
    "neighbour",  # coverage of the sentence before or after it
)

# what decides whether to answer at all (ComposerWeights.answerability names one weight each)
ANSWERABILITY = (
    "best_sentence_dense",  # highest sentence similarity
    "best_passage_dense",  # highest passage similarity
    "best_coverage",  # highest IDF-weighted term coverage of a sentence
    "unknown_terms",  # share of the question's terms that no chunk contains
    "type_match",  # the best sentence holds what the question word asks for
    "latin",  # share of Latin-script words (English questions match Arabic text less closely)
)

BULLETS = "-–—•*·▪"

# the columns the answerability row reads (by name, so reordering FEATURES cannot break it)
_DENSE, _COVERAGE, _TYPE = FEATURES.index("dense"), FEATURES.index("coverage"), FEATURES.index("type")


@dataclass
class Candidate:
    """One sentence of a retrieved passage, with its place in the document and its score."""

    passage: Passage
    doc_index: int
    start: int  # in the document
    end: int
    text: str
    sentence_index: int
    score: float = 0.0
    coverage: float = 0.0
    stems: set[str] = field(default_factory=set)
    heading: bool = False  # on a short line of its own without a full stop: scored, never shown alone


def candidates(index: Index, passages: list[Passage]) -> list[Candidate]:
    """Every sentence of the passages once (overlapping chunks share sentences), in passage order."""
    seen: set[int] = set()
    out: list[Candidate] = []
    sentences = index.sentences
    for passage in passages:
        doc_index, start, _end, text = index.chunk(passage.chunk_index)
        lo, hi = index.chunk_sentences[passage.chunk_index]
        for s_index in range(int(lo), int(hi)):
            if s_index in seen:
                continue
            seen.add(s_index)
            s_start, s_end = int(sentences[s_index, 1]), int(sentences[s_index, 2])
            sentence = text[s_start - start : s_end - start]
            out.append(Candidate(passage, doc_index, s_start, s_end, sentence, s_index,
                                 heading=is_heading(text, s_start - start, s_end - start)))
    return out


HEADING_MAX_CHARS = 80


def is_heading(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` lies on a line of its own that reads as a heading: short, and
    not ended by a full stop ("ضغوط أميركية", "آفاق مستقبلية.. هل نشهد تحولًا؟"). An excerpt of a
    heading alone answers nothing; it stays in the index (retrieval matches its words)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : len(text) if line_end < 0 else line_end].strip()
    # a bullet is a list item (it may be the answer: "who took part?"), not a heading
    if not line or len(line) > HEADING_MAX_CHARS or "\n" not in text or line[0] in BULLETS:
        return False
    return not (line.endswith(".") and not line.endswith(".."))


def question_idf(index: Index, q_stems: set[str]) -> dict[str, float]:
    """IDF of each question stem in the index (rare words matter more; 0 or less: unknown)."""
    terms = sorted(q_stems)
    return {t: float(w) for t, w in zip(terms, index.backend.idf(terms))} if terms else {}


def sentence_features(index: Index, cands: list[Candidate], passages: list[Passage], query_vector: np.ndarray | None,
                      query: Query, idf: dict[str, float] | None = None) -> np.ndarray:
    """One row per candidate sentence, columns as FEATURES; also sets ``cand.stems`` and
    ``cand.coverage``. ``idf``: the question stems' IDF (``question_idf``), when the caller has it."""
    idf = question_idf(index, set(query.stems)) if idf is None else idf
    q_words, qtype = query.words, query.question_type
    # a term unknown to the index still counts a little (it may be a typo or a name)
    weights = {t: w if w > 0 else 0.5 for t, w in idf.items()}
    total_weight = sum(weights.values()) or 1.0
    top_passage = max((p.score for p in passages), default=1.0) or 1.0
    out = np.zeros((len(cands), len(FEATURES)), dtype=np.float64)
    columns = {name: out[:, i] for i, name in enumerate(FEATURES)}  # views: writing them fills ``out``
    columns["dense"][:] = sentence_similarity(index, cands, query_vector)
    coverage_by_sentence: dict[int, float] = {}
    for row, cand in enumerate(cands):
        words = set(tokenize(cand.text))
        cand.stems = {stem(t) for t in words if t not in STOPWORDS}
        coverage = sum(w for t, w in weights.items() if t in cand.stems) / total_weight
        coverage_by_sentence[cand.sentence_index] = cand.coverage = coverage
        columns["coverage"][row] = coverage
        columns["exact"][row] = len(q_words & words) / len(q_words) if q_words else 0.0
        columns["type"][row] = type_match(qtype, cand.text)
        columns["rank"][row] = 1.0 / cand.passage.rank
        columns["passage"][row] = cand.passage.score / top_passage
        columns["short"][row] = len(cand.text) < 40 or cand.text.lstrip()[:1] in BULLETS
        columns["length"][row] = len(cand.text) / 100
    for row, cand in enumerate(cands):
        columns["neighbour"][row] = max(coverage_by_sentence.get(cand.sentence_index - 1, 0.0),
                                        coverage_by_sentence.get(cand.sentence_index + 1, 0.0))
    return out


def answerability_row(features: np.ndarray, passages: list[Passage], query: Query, idf: dict[str, float]) -> np.ndarray:
    """The ANSWERABILITY values of a question, from its candidates' FEATURES rows."""
    dense, coverage = features[:, _DENSE], features[:, _COVERAGE]
    best = int(np.argmax(dense + coverage))
    qtype = query.question_type
    values = {
        "best_sentence_dense": dense.max(),
        "best_passage_dense": max((p.scores.get("dense", 0.0) for p in passages), default=0.0),
        "best_coverage": coverage.max(),
        "unknown_terms": float(np.mean([w <= 0 for w in idf.values()])) if idf else 1.0,
        "type_match": features[best, _TYPE] if qtype in ("number", "time", "person") else 1.0,
        "latin": query.latin_share,
    }
    return np.array([values[name] for name in ANSWERABILITY])


def sentence_similarity(index: Index, cands: list[Candidate], query_vector: np.ndarray | None) -> np.ndarray:
    """Each candidate's similarity to the question (its sentence vector against ``query_vector``)."""
    if query_vector is None:
        return np.zeros(len(cands))
    vectors = index.sentence_vectors
    if vectors is not None:
        return np.asarray(vectors[[c.sentence_index for c in cands]] @ query_vector, dtype=np.float64)
    # no sentence vectors: fall back to the passage's similarity
    return np.array([c.passage.scores.get("dense", 0.0) for c in cands])
