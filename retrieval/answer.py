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


# what a candidate sentence is scored on (a linear model; see ComposerConfig.weights)
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


# what decides whether to answer at all (see ComposerConfig.abstain_weights)
ANSWERABILITY = (
    "best_sentence_dense",  # highest sentence similarity
    "best_passage_dense",  # highest passage similarity
    "best_coverage",  # highest IDF-weighted term coverage of a sentence
    "unknown_terms",  # share of the question's terms that no chunk contains
    "type_match",  # the best sentence holds what the question word asks for
    "latin",  # share of Latin-script words (English questions match Arabic text less closely)
)


@dataclass
class Candidate:
    passage: Passage
    doc_index: int
    start: int  # in the document
    end: int
    text: str
    sentence_index: int
    score: float = 0.0
    coverage: float = 0.0
    stems: set[str] = field(default_factory=set)


@dataclass
class ComposerConfig:
    max_excerpts: int = 5
    max_chars: int = 530
    more_excerpts: int = 6
    # one weight per FEATURES column (chosen with bench/tune.py on XQuAD-ar and eval/seed_qa.jsonl)
    weights: tuple[float, ...] = (5.0, 0.3, 0.0, 0.3, 0.3, 0.5, -0.3, 0.0, 0.0)
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
    # logistic model over ANSWERABILITY (+ bias), fitted with bench/fit_abstention.py
    abstain_weights: tuple[float, ...] = (18.381, 13.307, 2.659, -3.86, 0.289, 5.855, -27.303)
    abstain_threshold: float = 0.3  # trade-off table in bench/README.md


class Composer:
    """Turns retrieved passages into an Answer. Thread-safe (read-only state)."""

    def __init__(self, index: Index, config: ComposerConfig | None = None) -> None:
        self.index = index
        self.config = config or ComposerConfig()

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
        idf = self._idf(q_stems)
        features = self.features(candidates, passages, query_vector, resolved, qtype, idf)
        scores = features @ np.asarray(cfg.weights, dtype=np.float64)
        for cand, score in zip(candidates, scores):
            cand.score = float(score)
        if self.answerability(self._answerability_row(features, passages, resolved, qtype, idf)) < cfg.abstain_threshold:
            return self._abstain(question, resolved, passages, q_stems)

        if cfg.neighbour_weight:
            _add_neighbour_scores(candidates, cfg.neighbour_weight)
        if cfg.max_excerpt_chars:
            for cand in candidates:
                cut = clause_cut(cand.text, cfg.max_excerpt_chars)
                cand.text, cand.end = cand.text[:cut], cand.start + cut
        ranked = sorted(candidates, key=lambda c: -c.score)
        chosen, more = self._select(ranked)
        return self._answer(question, resolved, passages, chosen, more, q_stems)

    def answerability_features(self, question: str, resolved: str, passages: list[Passage],
                               query_vector: np.ndarray | None) -> np.ndarray:
        """The ANSWERABILITY row of a question (for calibration scripts)."""
        qtype = question_type(question)
        candidates = self._candidates(passages)
        if not candidates:
            return np.zeros(len(ANSWERABILITY))
        idf = self._idf(query_stems(resolved))
        features = self.features(candidates, passages, query_vector, resolved, qtype, idf)
        return self._answerability_row(features, passages, resolved, qtype, idf)

    def _answerability_row(self, features: np.ndarray, passages: list[Passage], resolved: str, qtype: str,
                           idf: dict[str, float]) -> np.ndarray:
        best = int(np.argmax(features[:, 0] + features[:, 1]))
        tokens = tokenize(resolved)
        return np.array([
            features[:, 0].max(),
            max((p.scores.get("dense", 0.0) for p in passages), default=0.0),
            features[:, 1].max(),
            float(np.mean([w <= 0 for w in idf.values()])) if idf else 1.0,
            features[best, 3] if qtype in ("number", "time", "person") else 1.0,
            sum(t.isascii() for t in tokens) / len(tokens) if tokens else 0.0,
        ])

    def answerability(self, row: np.ndarray) -> float:
        """Probability that the passages answer the question (logistic model over ANSWERABILITY)."""
        weights = np.asarray(self.config.abstain_weights, dtype=np.float64)
        return float(1 / (1 + np.exp(-(row @ weights[:-1] + weights[-1]))))

    def features(self, candidates: list[Candidate], passages: list[Passage], query_vector: np.ndarray | None,
                 resolved: str, qtype: str, idf: dict[str, float] | None = None) -> np.ndarray:
        """One row per candidate sentence, columns as FEATURES; also sets ``cand.stems``.
        ``idf``: the question stems' IDF (``_idf``), when the caller has it already."""
        idf = self._idf(query_stems(resolved)) if idf is None else idf
        q_words = {t for t in tokenize(resolved) if t not in STOPWORDS}
        # a term unknown to the index still counts a little (it may be a typo or a name)
        weights = {t: w if w > 0 else 0.5 for t, w in idf.items()}
        total_weight = sum(weights.values()) or 1.0
        top_passage = max((p.score for p in passages), default=1.0) or 1.0
        out = np.zeros((len(candidates), len(FEATURES)), dtype=np.float64)
        out[:, 0] = self._sentence_similarity(candidates, query_vector)
        coverage_by_sentence: dict[int, float] = {}
        for row, cand in enumerate(candidates):
            words = set(tokenize(cand.text))
            cand.stems = {stem(t) for t in words if t not in STOPWORDS}
            coverage = sum(w for t, w in weights.items() if t in cand.stems) / total_weight
            coverage_by_sentence[cand.sentence_index] = cand.coverage = coverage
            out[row, 1:8] = (
                coverage,
                len(q_words & words) / len(q_words) if q_words else 0.0,
                _type_match(qtype, cand.text),
                1.0 / cand.passage.rank,
                cand.passage.score / top_passage,
                len(cand.text) < 40 or cand.text.lstrip()[:1] in _BULLETS,
                len(cand.text) / 100,
            )
        for row, cand in enumerate(candidates):
            out[row, 8] = max(coverage_by_sentence.get(cand.sentence_index - 1, 0.0),
                              coverage_by_sentence.get(cand.sentence_index + 1, 0.0))
        return out

    def _idf(self, q_stems: set[str]) -> dict[str, float]:
        """IDF of each question stem in the index (rare words matter more; 0 or less: unknown)."""
        terms = sorted(q_stems)
        return {t: float(w) for t, w in zip(terms, self.index.bm25.idf(terms))} if terms else {}

    # -- candidates -------------------------------------------------------------------------
    def _candidates(self, passages: list[Passage]) -> list[Candidate]:
        seen: set[int] = set()
        out: list[Candidate] = []
        sentences = self.index.sentences
        for passage in passages:
            doc_index, start, _end, text = self.index.chunk(passage.chunk_index)
            lo, hi = self.index.chunk_sentences[passage.chunk_index]
            for s_index in range(int(lo), int(hi)):
                if s_index in seen:
                    continue
                seen.add(s_index)
                s_start, s_end = int(sentences[s_index, 1]), int(sentences[s_index, 2])
                sentence = text[s_start - start : s_end - start]
                out.append(Candidate(passage, doc_index, s_start, s_end, sentence, s_index))
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
        if not groups:
            return [], []
        # the best sentence always leads; the rest of the budget goes to the set of groups with
        # the highest total probability of holding the answer (softmax of the scores), a small
        # knapsack; an article not yet shown is worth more, so a many-sided answer shows each side
        first = groups[0]
        leads = [first]
        # the best sentence of another article that scores close to the best is shown too
        # (cut at a clause boundary to fit): "who did X meet" answered in two articles shows both
        seen_docs = {first[0].doc_index}
        seen_titles = {self._title_key(first[0].doc_index)}
        for group in groups[1:]:
            lead = group[0]
            if len(leads) >= cfg.max_excerpts or first[0].score - lead.score > cfg.other_source_margin:
                break
            title = self._title_key(lead.doc_index)
            # parts of one article (paragraphs sharing a title) are one source; the other article's
            # sentence must hold some of the question's terms: 40%, or as much as the best sentence
            needed = min(cfg.other_source_coverage, first[0].coverage)
            if title in seen_titles or not lead.coverage or lead.coverage < needed:
                continue
            seen_titles.add(title)
            seen_docs.add(lead.doc_index)
            room = cfg.max_chars - sum(len(g[0].text) for g in leads)
            cut = clause_cut(lead.text, room) if len(lead.text) > room else len(lead.text)
            if cut >= 60:
                lead.text, lead.end = lead.text[:cut], lead.start + cut
                leads.append(group)
        used = sum(len(g[0].text) for g in leads)
        pool = [g for g in groups[1 : 1 + cfg.knapsack_pool] if all(g is not lead for lead in leads)]
        top = first[0].score
        values = [np.exp((g[0].score + cfg.w_new_source * (g[0].doc_index not in seen_docs) - top) / cfg.temperature)
                  for g in pool]
        picked = _knapsack([len(g[0].text) for g in pool], values, cfg.max_chars - used, cfg.max_excerpts - len(leads))
        chosen = leads + [pool[i] for i in sorted(picked)]
        chosen.sort(key=lambda g: -g[0].score)
        chosen_ids = {id(g) for g in chosen}
        remaining = [g for g in groups if id(g) not in chosen_ids]
        more = remaining[: cfg.more_excerpts]
        return chosen, more

    def _title_key(self, doc_index: int) -> str:
        return normalize(self.index.documents[doc_index].title)

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


_BULLETS = "-–—•*·▪"
_CLAUSE_END = re.compile(r"[،,؛;:](?=\s)")


def _add_neighbour_scores(candidates: list[Candidate], weight: float) -> None:
    """Add ``weight`` x (best neighbouring sentence's score - best score) to each candidate
    (neighbours: the sentences just before and after it in the same document, when retrieved)."""
    base = {c.sentence_index: (c.doc_index, c.score) for c in candidates}
    top = max(score for _, score in base.values())
    for cand in candidates:
        near = [base[i][1] for i in (cand.sentence_index - 1, cand.sentence_index + 1)
                if i in base and base[i][0] == cand.doc_index]
        if near:
            cand.score += weight * (max(near) - top)


def clause_cut(text: str, limit: int) -> int:
    """Length of the prefix of ``text`` to show: all of it when short, else up to the last
    clause boundary (comma, semicolon, colon) before ``limit``, else the last space.
    News sentences put who, what, where and when first."""
    limit = int(limit)
    if len(text) <= limit:
        return len(text)
    ends = [m.end() for m in _CLAUSE_END.finditer(text, 0, limit) if m.end() >= limit * 0.4]
    if ends:
        return ends[-1]
    space = text.rfind(" ", 0, limit)
    return space if space > limit * 0.4 else limit


def _knapsack(sizes: list[int], values: list[float], capacity: int, max_items: int, unit: int = 10) -> list[int]:
    """Indices of at most ``max_items`` items of total size <= ``capacity`` with the largest total value."""
    if capacity <= 0 or max_items <= 0 or not sizes:
        return []
    cap = capacity // unit
    # best[c][n] = (value, items) using capacity c units and n items
    best: dict[tuple[int, int], tuple[float, tuple[int, ...]]] = {(0, 0): (0.0, ())}
    for i, (size, value) in enumerate(zip(sizes, values)):
        cost = -(-size // unit)
        for (c, n), (v, items) in list(best.items()):
            key = (c + cost, n + 1)
            if key[0] <= cap and key[1] <= max_items and best.get(key, (-1.0,))[0] < v + value:
                best[key] = (v + value, items + (i,))
    return list(max(best.values())[1])


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
