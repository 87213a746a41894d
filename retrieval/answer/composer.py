"""The Composer: a Query and its retrieved passages -> scored sentences -> the Answer (or an abstention).
It only sequences the steps; each lives in its own module (scoring, decide, selection, spans)."""

from __future__ import annotations

import numpy as np

from retrieval.answer import decide as decision
from retrieval.answer.config import ComposerConfig
from retrieval.answer.decide import DecisionConfig
from retrieval.answer.scoring import (
    ANSWERABILITY,
    FEATURES,
    Candidate,
    answerability_row,
    candidates,
    question_idf,
    sentence_features,
    sentence_similarity,
)
from retrieval.answer.selection import abstain, add_neighbour_scores, build_answer, cut_long_sentences, select
from retrieval.answer.spans import mark_answer
from retrieval.index import Index
from retrieval.models import Answer, Passage
from retrieval.understand.query import Query


class Composer:
    """Turns retrieved passages into an Answer. Thread-safe (read-only state)."""

    def __init__(self, index: Index, config: ComposerConfig | None = None, decision: DecisionConfig | None = None) -> None:
        self.index = index
        self.config = config or ComposerConfig()  # how excerpts are scored, chosen and cut
        self.decision = decision or DecisionConfig()  # whether to answer (answer/decide.py)

    def compose(self, query: Query, passages: list[Passage], query_vector: np.ndarray | None,
                reader_vector: np.ndarray | None = None) -> Answer:
        """Compose the answer to ``query`` from ``passages``. ``reader_vector``: the reader's question vector
        (retrieval/reader), which ranks the sentences in place of ``query_vector``; whether to answer at all is
        still decided on ``query_vector`` (answer/decide.py)."""
        cfg = self.config
        q_stems = set(query.stems)
        cands = self.candidates(passages)
        if not cands:
            return self.abstained(query, passages, "no_sentences")
        idf = question_idf(self.index, q_stems)
        features = self.features(cands, passages, query_vector, query, idf)
        verdict = decision.decide(query, answerability_row(features, passages, query, idf), cands, self.decision)
        if reader_vector is not None:
            features[:, FEATURES.index("dense")] = cfg.reader_scale * sentence_similarity(self.index, cands, reader_vector)
        scores = features @ cfg.weights.sentence_vector
        for cand, score in zip(cands, scores):
            cand.score = float(score)
        if verdict.decision is decision.Decision.ABSTAINED:
            answer = self.abstained(query, passages, verdict.reason)
            answer.confidence = round(verdict.probability, 4)
            return answer

        if cfg.neighbour_weight:
            add_neighbour_scores(cands, cfg.neighbour_weight)
        if cfg.max_excerpt_chars:
            cut_long_sentences(cands, cfg.max_excerpt_chars)
        ranked = sorted(cands, key=lambda c: -c.score)
        chosen, more = select(ranked, self.index, cfg)
        answer = build_answer(self.index, query.text, query.resolved, passages, chosen, more, q_stems)
        answer.confidence = round(verdict.probability, 4)
        answer.language, answer.corrected = query.language, list(query.corrected)
        shown, message_id = decision.shown(verdict, bool(answer.excerpts), self.decision)
        answer.decide(shown, verdict.reason)
        answer.message_id = message_id
        mark_answer(answer, query)  # the lead sentence's answer phrase, when confidently found (bold)
        return answer

    def abstained(self, query: Query, passages: list[Passage], reason: str) -> Answer:
        answer = abstain(query.text, query.resolved, passages, set(query.stems))
        answer.language, answer.corrected = query.language, list(query.corrected)
        answer.decide(decision.Decision.ABSTAINED, reason)
        return answer

    def candidates(self, passages: list[Passage]) -> list[Candidate]:
        """The passages' sentences, each once (for calibration scripts too)."""
        return candidates(self.index, passages)

    def features(self, cands: list[Candidate], passages: list[Passage], query_vector: np.ndarray | None,
                 query: Query, idf: dict[str, float] | None = None) -> np.ndarray:
        """One row per candidate sentence, columns as FEATURES (see scoring.sentence_features)."""
        return sentence_features(self.index, cands, passages, query_vector, query, idf)

    def answerability_features(self, query: Query, passages: list[Passage], query_vector: np.ndarray | None) -> np.ndarray:
        """The ANSWERABILITY row of a question (for calibration scripts)."""
        cands = self.candidates(passages)
        if not cands:
            return np.zeros(len(ANSWERABILITY))
        idf = question_idf(self.index, set(query.stems))
        features = self.features(cands, passages, query_vector, query, idf)
        return answerability_row(features, passages, query, idf)

    def answerability(self, row: np.ndarray) -> float:
        """Probability that the passages answer the question (answer/decide.py)."""
        return decision.answerability(row, self.decision)
