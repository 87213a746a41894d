"""The answer composer: the sentences of the retrieved passages that answer the question,
quoted verbatim with numbered citations; near-duplicates merged; abstains when unsupported."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from retrieval.arabic import QUESTION_WORDS, STOPWORDS, normalize, stem, tokenize
from retrieval.index import Index
from retrieval.models import Answer, DocumentInfo, Excerpt, Passage, Source

NO_ANSWER = "لم أجد إجابة لهذا السؤال في المصادر المتاحة."

# a word in the original text, diacritics and tatweel included (for highlight spans)
_WORD = re.compile(r"(?:[^\W_]|[\u0610-\u061a\u064b-\u065f\u0670\u0640])+")
_DIGIT = re.compile(r"\d")
_NUMBER_WORDS = frozenset(normalize(w) for w in (
    "واحد اثنان اثنين ثلاثة ثلاث أربعة أربع خمسة خمس ستة ست سبعة سبع ثمانية ثماني تسعة تسع عشرة عشر "
    "عشرات مئات آلاف ألف مليون مليار نحو حوالي أكثر أقل عدد مئة مائة").split())
_TIME_WORDS = frozenset(normalize(w) for w in (
    "السبت الأحد الاثنين الإثنين الثلاثاء الأربعاء الخميس الجمعة اليوم أمس غدا الماضي المقبل "
    "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر "
    "كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين عام سنة شهر أسبوع ساعة صباح مساء").split())
_PLACE_HINTS = frozenset(normalize(w) for w in "في إلى من بمدينة مدينة عاصمة العاصمة منطقة قطاع".split())
_PERSON_HINTS = frozenset(normalize(w) for w in (
    "رئيس الرئيس وزير مدير المبعوث مبعوث اللواء السيد نائب مستشار المتحدث زعيم قائد الملك الأمير").split())


def question_type(question: str) -> str:
    """number | time | place | person | other, from the question word (Arabic or English)."""
    tokens = tokenize(question)
    words = [t[1:] if t.startswith("و") and t[1:] in QUESTION_WORDS else t for t in tokens]
    head = " ".join(words[:3])
    if re.search(r"\b(كم|عدد|how many|how much)\b", head) or "عدد" in words:
        return "number"
    if re.search(r"\b(متي|when|what year|what day)\b", head):
        return "time"
    if re.search(r"\b(اين|where)\b", head):
        return "place"
    if re.search(r"\b(من|who|whom)\b", head):
        return "person"
    return "other"


def query_stems(text: str) -> set[str]:
    """Stemmed content terms of a question (what the excerpts should contain)."""
    return {stem(t) for t in tokenize(text) if t not in STOPWORDS}


@dataclass
class Candidate:
    passage: Passage
    doc_index: int
    start: int  # in the document
    end: int
    text: str
    sentence_index: int
    score: float = 0.0
    stems: set[str] = field(default_factory=set)


@dataclass
class ComposerConfig:
    max_excerpts: int = 3
    max_chars: int = 600
    more_excerpts: int = 6
    w_dense: float = 1.0
    w_lexical: float = 0.6
    w_type: float = 0.15
    w_rank: float = 0.1
    w_passage: float = 0.0
    w_short: float = 0.3  # headings and list fragments make poor excerpts
    duplicate_jaccard: float = 0.6
    abstain_dense: float = 0.80  # below this best sentence/passage similarity, and
    abstain_lexical: float = 0.34  # below this term coverage: no answer


class Composer:
    """Turns retrieved passages into an Answer. Thread-safe (read-only state)."""

    def __init__(self, index: Index, config: ComposerConfig | None = None) -> None:
        self.index = index
        self.config = config or ComposerConfig()
        sentences = index.sentences
        # first sentence row of each document (sentences are sorted by document, then start)
        self._doc_first = np.searchsorted(sentences[:, 0], np.arange(len(index.documents) + 1)) if len(sentences) else None

    def compose(self, question: str, resolved: str, passages: list[Passage], query_vector: np.ndarray | None,
                focus_question: str | None = None) -> Answer:
        """Compose the answer to ``resolved`` (the question after follow-up resolution) from ``passages``.
        ``focus_question`` (the user's own words) decides the question type."""
        cfg = self.config
        qtype = question_type(focus_question or question)
        q_stems = query_stems(resolved)
        candidates = self._candidates(passages)
        if not candidates:
            return self._abstain(question, resolved, passages, q_stems)
        dense = self._sentence_similarity(candidates, query_vector)
        weights = self._term_weights(q_stems)
        total_weight = sum(weights.values()) or 1.0
        top_passage = max((p.score for p in passages), default=1.0) or 1.0
        best_coverage = 0.0
        for cand, sim in zip(candidates, dense):
            cand.stems = query_stems(cand.text)
            coverage = sum(w for t, w in weights.items() if t in cand.stems) / total_weight
            best_coverage = max(best_coverage, coverage)
            cand.score = (cfg.w_dense * sim + cfg.w_lexical * coverage + cfg.w_type * _type_match(qtype, cand.text)
                          + cfg.w_rank / cand.passage.rank + cfg.w_passage * cand.passage.score / top_passage
                          - cfg.w_short * (len(cand.text) < 40))
        best_dense = max(float(dense.max()) if len(dense) else 0.0, max((p.scores.get("dense", 0.0) for p in passages), default=0.0))
        if best_dense < cfg.abstain_dense and best_coverage < cfg.abstain_lexical:
            return self._abstain(question, resolved, passages, q_stems)

        ranked = sorted(candidates, key=lambda c: -c.score)
        chosen, more = self._select(ranked)
        return self._answer(question, resolved, passages, chosen, more, q_stems)

    def _term_weights(self, q_stems: set[str]) -> dict[str, float]:
        """IDF of each question stem in the index (rare words matter more)."""
        terms = sorted(q_stems)
        idf = self.index.bm25.idf(terms) if terms else []
        # a term unknown to the index still counts a little (it may be a typo or a name)
        return {t: float(w) if w > 0 else 0.5 for t, w in zip(terms, idf)}

    # -- candidates -------------------------------------------------------------------------
    def _candidates(self, passages: list[Passage]) -> list[Candidate]:
        seen: set[int] = set()
        out: list[Candidate] = []
        if self._doc_first is None:
            return out
        sentences = self.index.sentences
        for passage in passages:
            doc_index, start, end, text = self.index.chunk(passage.chunk_index)
            lo, hi = int(self._doc_first[doc_index]), int(self._doc_first[doc_index + 1])
            rows = sentences[lo:hi]
            inside = np.nonzero((rows[:, 1] >= start) & (rows[:, 2] <= end))[0]
            for r in inside:
                s_index = lo + int(r)
                if s_index in seen:
                    continue
                seen.add(s_index)
                s_start, s_end = int(rows[r, 1]), int(rows[r, 2])
                out.append(Candidate(passage, doc_index, s_start, s_end, text[s_start - start : s_end - start], s_index))
        return out

    def _sentence_similarity(self, candidates: list[Candidate], query_vector: np.ndarray | None) -> np.ndarray:
        if query_vector is None:
            return np.zeros(len(candidates))
        vectors = self.index.sentence_vectors
        if vectors is not None:
            return np.asarray(vectors[[c.sentence_index for c in candidates]] @ query_vector, dtype=np.float64)
        # no sentence vectors: fall back to the passage's similarity
        return np.array([c.passage.scores.get("dense", 0.0) for c in candidates])

    # -- selection --------------------------------------------------------------------------
    def _select(self, ranked: list[Candidate]) -> tuple[list[list[Candidate]], list[list[Candidate]]]:
        """Groups of near-duplicate candidates: the shown ones within the budget, and the rest."""
        cfg = self.config
        groups: list[list[Candidate]] = []
        for cand in ranked:
            for group in groups:
                if _jaccard(group[0].stems, cand.stems) >= cfg.duplicate_jaccard:
                    if all(c.doc_index != cand.doc_index for c in group):
                        group.append(cand)
                    break
            else:
                groups.append([cand])
        chosen: list[list[Candidate]] = []
        more: list[list[Candidate]] = []
        used = 0
        for group in groups:
            length = len(group[0].text)
            fits = used + length <= cfg.max_chars or not chosen
            if len(chosen) < cfg.max_excerpts and fits:
                chosen.append(group)
                used += length
            elif len(more) < cfg.more_excerpts:
                more.append(group)
        return chosen, more

    # -- answer -----------------------------------------------------------------------------
    def _answer(self, question: str, resolved: str, passages: list[Passage], chosen: list[list[Candidate]],
                more: list[list[Candidate]], q_stems: set[str]) -> Answer:
        sources: dict[int, Source] = {}

        def cite(group: list[Candidate]) -> list[int]:
            numbers = []
            for cand in group:
                if cand.doc_index not in sources:
                    doc = self.index.documents[cand.doc_index]
                    sources[cand.doc_index] = Source(number=len(sources) + 1, doc_id=doc.id, title=doc.title,
                                                     source=doc.source, url=doc.url, date=doc.date)
                numbers.append(sources[cand.doc_index].number)
            return sorted(set(numbers))

        def excerpt(group: list[Candidate]) -> Excerpt:
            lead = group[0]
            doc = self.index.documents[lead.doc_index]
            return Excerpt(text=lead.text, doc_id=doc.id, start=lead.start, end=lead.end, citations=cite(group),
                           highlights=highlight_spans(lead.text, q_stems), score=round(lead.score, 4))

        # show the chosen excerpts in reading order within each source, sources by best score
        shown = [excerpt(g) for g in chosen]
        held = [excerpt(g) for g in more]
        return Answer(question=question, resolved_question=resolved, excerpts=shown, more=held,
                      sources=sorted(sources.values(), key=lambda s: s.number), passages=passages,
                      highlight_terms=sorted(q_stems))

    def _abstain(self, question: str, resolved: str, passages: list[Passage], q_stems: set[str]) -> Answer:
        seen: set[str] = set()
        suggestions: list[DocumentInfo] = []
        for p in passages:
            if p.doc_id not in seen and len(suggestions) < 3:
                seen.add(p.doc_id)
                suggestions.append(DocumentInfo(id=p.doc_id, title=p.title, source=p.source, url=p.url, date=p.date))
        return Answer(question=question, resolved_question=resolved, abstained=True, message=NO_ANSWER,
                      suggestions=suggestions, passages=passages, highlight_terms=sorted(q_stems))


def _jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _type_match(qtype: str, text: str) -> float:
    """1 when the sentence holds the kind of thing the question asks for."""
    if qtype == "number":
        return 1.0 if _DIGIT.search(text) or any(t in _NUMBER_WORDS for t in tokenize(text)) else 0.0
    if qtype == "time":
        tokens = tokenize(text)
        return 1.0 if any(t in _TIME_WORDS or t[1:] in _TIME_WORDS for t in tokens) or re.search(r"\d{4}", text) else 0.0
    if qtype == "person":
        return 1.0 if any(t in _PERSON_HINTS or t[2:] in _PERSON_HINTS for t in tokenize(text)) else 0.0
    return 0.0


def highlight_spans(text: str, stems: set[str]) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` whose stem is one of ``stems``."""
    spans = []
    for match in _WORD.finditer(text):
        for token in tokenize(match.group()):
            if token not in STOPWORDS and stem(token) in stems:
                spans.append((match.start(), match.end()))
                break
    return spans
