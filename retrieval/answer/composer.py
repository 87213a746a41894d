"""The Composer: retrieved passages -> scored sentences -> the Answer (or an abstention).
It only sequences the steps; each lives in its own module (questions, scoring, selection)."""

from __future__ import annotations

import numpy as np

from retrieval.answer.config import ComposerConfig
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
from retrieval.index import Index
from retrieval.messages import UNSURE
from retrieval.models import Answer, Passage
from retrieval.text.arabic import QUESTION_WORDS, STOPWORDS, stem, tokenize
from retrieval.understand.names import name_spellings
from retrieval.understand.qtype import query_stems, question_type


def _latin(tokens: list[str]) -> bool:
    """Most of the question's words in Latin script (asked in English), as the "latin" feature counts them."""
    return bool(tokens) and sum(t.isascii() for t in tokens) > len(tokens) / 2


def names_spelled(index: Index, resolved: str, cands: list[Candidate], top: int = 3) -> bool:
    """Whether ``resolved`` is an English question whose Latin names (retrieval/understand/names.py) the sentences of
    the ``top`` passages spell."""
    if not _latin(tokenize(resolved)):
        return False
    spellings = name_spellings(index, resolved)
    wanted = {stem(t[1:]) if t.startswith("=") else t for terms in spellings.values() for t in terms}
    return bool(wanted) and any(wanted & c.stems for c in cands if c.passage.rank <= top)


def nothing_to_read(index: Index, resolved: str, cands: list[Candidate]) -> bool:
    """Latin-script input without a question word and with fewer than two words that are not stopwords, none
    of them a name the articles spell: nothing the Arabic index can read ("asdfgh", "news", "123"). "What is
    septicemia?" asks (XQuAD-en); "Rashad?" names."""
    tokens = tokenize(resolved)
    if not _latin(tokens) or any(t in QUESTION_WORDS for t in tokens):
        return False
    return sum(t not in STOPWORDS for t in tokens) < 2 and not names_spelled(index, resolved, cands)


class Composer:
    """Turns retrieved passages into an Answer. Thread-safe (read-only state)."""

    def __init__(self, index: Index, config: ComposerConfig | None = None) -> None:
        self.index = index
        self.config = config or ComposerConfig()

    def compose(self, question: str, resolved: str, passages: list[Passage], query_vector: np.ndarray | None,
                focus_question: str | None = None, reader_vector: np.ndarray | None = None) -> Answer:
        """Compose the answer to ``resolved`` (the question after follow-up resolution) from ``passages``.
        ``focus_question`` (the user's own words) decides the question type. ``reader_vector``: the
        reader's question vector (retrieval/reader), which ranks the sentences in place of
        ``query_vector``; whether to answer at all is still decided on ``query_vector``."""
        cfg = self.config
        qtype = question_type(focus_question or question)
        q_stems = query_stems(resolved)
        cands = self.candidates(passages)
        if not cands:
            return abstain(question, resolved, passages, q_stems)
        idf = question_idf(self.index, q_stems)
        features = self.features(cands, passages, query_vector, resolved, qtype, idf)
        probability = self.answerability(answerability_row(features, passages, resolved, qtype, idf))
        if nothing_to_read(self.index, resolved, cands):
            probability = 0.0  # "asdfgh", "news": the model, fitted on questions, read such words as answerable
        if reader_vector is not None:
            features[:, FEATURES.index("dense")] = cfg.reader_scale * sentence_similarity(self.index, cands, reader_vector)
        scores = features @ cfg.weights.sentence_vector
        for cand, score in zip(cands, scores):
            cand.score = float(score)
        threshold = cfg.abstain_threshold
        if probability < threshold and cfg.unsure_below > threshold and names_spelled(self.index, resolved, cands):
            threshold = min(threshold, cfg.names_abstain_threshold)  # "Who met Rashad?": shown, as not sure
        if probability < threshold:
            answer = abstain(question, resolved, passages, q_stems)
            answer.confidence = round(probability, 4)
            return answer

        if cfg.neighbour_weight:
            add_neighbour_scores(cands, cfg.neighbour_weight)
        if cfg.max_excerpt_chars:
            cut_long_sentences(cands, cfg.max_excerpt_chars)
        ranked = sorted(cands, key=lambda c: -c.score)
        chosen, more = select(ranked, self.index, cfg)
        answer = build_answer(self.index, question, resolved, passages, chosen, more, q_stems)
        answer.confidence = round(probability, 4)
        if answer.excerpts and probability < cfg.unsure_below:
            answer.unsure, answer.message = True, UNSURE
        return answer

    def candidates(self, passages: list[Passage]) -> list[Candidate]:
        """The passages' sentences, each once (for calibration scripts too)."""
        return candidates(self.index, passages)

    def features(self, cands: list[Candidate], passages: list[Passage], query_vector: np.ndarray | None,
                 resolved: str, qtype: str, idf: dict[str, float] | None = None) -> np.ndarray:
        """One row per candidate sentence, columns as FEATURES (see scoring.sentence_features)."""
        return sentence_features(self.index, cands, passages, query_vector, resolved, qtype, idf)

    def answerability_features(self, question: str, resolved: str, passages: list[Passage],
                               query_vector: np.ndarray | None) -> np.ndarray:
        """The ANSWERABILITY row of a question (for calibration scripts)."""
        qtype = question_type(question)
        cands = self.candidates(passages)
        if not cands:
            return np.zeros(len(ANSWERABILITY))
        idf = question_idf(self.index, query_stems(resolved))
        features = self.features(cands, passages, query_vector, resolved, qtype, idf)
        return answerability_row(features, passages, resolved, qtype, idf)

    def answerability(self, row: np.ndarray) -> float:
        """Probability that the passages answer the question (logistic model over ANSWERABILITY)."""
        weights = self.config.weights
        return float(1 / (1 + np.exp(-(row @ weights.answerability_vector + weights.answerability_bias))))
