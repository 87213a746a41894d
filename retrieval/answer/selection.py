"""Selection: from scored candidate sentences to the Answer users see. Neighbour lift, clause
cuts, near-duplicate merging, the excerpts within the budget (the best sentence, other articles'
close seconds, then a small knapsack), citations and highlights; and the abstention answer."""

from __future__ import annotations

import re

import numpy as np

from retrieval.answer.config import ComposerConfig
from retrieval.answer.scoring import Candidate
from retrieval.index import Index
from retrieval.models import Answer, Decision, DocumentInfo, Excerpt, Passage, Source
from retrieval.text.arabic import STOPWORDS, normalize, stem, tokenize

# a word in the original text, diacritics and tatweel included (for highlight spans)
_WORD = re.compile(r"(?:[^\W_]|[\u0610-\u061a\u064b-\u065f\u0670\u0640])+")
_CLAUSE_END = re.compile(r"[،,؛;:](?=\s)")

Group = list[Candidate]  # near-duplicate sentences, the best first, one per article


def add_neighbour_scores(candidates: list[Candidate], weight: float) -> None:
    """Add ``weight`` x (best neighbouring sentence's score - best score) to each candidate
    (neighbours: the sentences just before and after it in the same document, when retrieved)."""
    base = {c.sentence_index: (c.doc_index, c.score) for c in candidates}
    top = max(score for _, score in base.values())
    for cand in candidates:
        near = [base[i][1] for i in (cand.sentence_index - 1, cand.sentence_index + 1)
                if i in base and base[i][0] == cand.doc_index]
        if near:
            cand.score += weight * (max(near) - top)


def cut_long_sentences(candidates: list[Candidate], limit: int) -> None:
    """Cut every candidate longer than ``limit`` at a clause boundary (``clause_cut``)."""
    for cand in candidates:
        cut = clause_cut(cand.text, limit)
        cand.text, cand.end = cand.text[:cut], cand.start + cut


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


def select(ranked: list[Candidate], index: Index, cfg: ComposerConfig) -> tuple[list[Group], list[Group]]:
    """Groups of near-duplicate candidates (``ranked``: best score first): the shown ones within
    the budget, and the next ones held back for "more"."""
    # a heading alone answers nothing (scoring.is_heading): it lifted its neighbours, it is not shown
    groups = merge_duplicates([c for c in ranked if not c.heading], cfg.duplicate_jaccard)
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
    seen_titles = {_title_key(index, first[0].doc_index)}
    for group in groups[1:]:
        lead = group[0]
        if len(leads) >= cfg.max_excerpts or first[0].score - lead.score > cfg.other_source_margin:
            break
        title = _title_key(index, lead.doc_index)
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
    picked = knapsack([len(g[0].text) for g in pool], values, cfg.max_chars - used, cfg.max_excerpts - len(leads))
    chosen = leads + [pool[i] for i in sorted(picked)]
    chosen.sort(key=lambda g: -g[0].score)
    chosen_ids = {id(g) for g in chosen}
    remaining = [g for g in groups if id(g) not in chosen_ids]
    return chosen, remaining[: cfg.more_excerpts]


def merge_duplicates(ranked: list[Candidate], threshold: float) -> list[Group]:
    """Each candidate joins the first group whose lead shares ``threshold`` of its stems (Jaccard),
    kept there only from an article the group lacks (its citation); else it starts a group."""
    groups: list[Group] = []
    for cand in ranked:
        for group in groups:
            if jaccard(group[0].stems, cand.stems) >= threshold:
                if all(c.doc_index != cand.doc_index for c in group):
                    group.append(cand)
                break
        else:
            groups.append([cand])
    return groups


def knapsack(sizes: list[int], values: list[float], capacity: int, max_items: int, unit: int = 10) -> list[int]:
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


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def highlight_spans(text: str, stems: set[str]) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` whose stem is one of ``stems``."""
    spans = []
    for match in _WORD.finditer(text):
        for token in tokenize(match.group()):
            if token not in STOPWORDS and stem(token) in stems:
                spans.append((match.start(), match.end()))
                break
    return spans


def build_answer(index: Index, question: str, resolved: str, passages: list[Passage], chosen: list[Group],
                 more: list[Group], q_stems: set[str]) -> Answer:
    """The Answer of the chosen groups (shown) and the next ones (held back), sources numbered
    in order of first citation."""
    sources: dict[int, Source] = {}

    def cite(group: Group) -> list[int]:
        numbers = []
        for cand in group:
            if cand.doc_index not in sources:
                doc = index.documents[cand.doc_index]
                sources[cand.doc_index] = Source(number=len(sources) + 1, doc_id=doc.id, title=doc.title,
                                                 source=doc.source, url=doc.url, date=doc.date)
            numbers.append(sources[cand.doc_index].number)
        return sorted(set(numbers))

    def excerpt(group: Group) -> Excerpt:
        lead = group[0]
        doc = index.documents[lead.doc_index]
        return Excerpt(text=lead.text, doc_id=doc.id, start=lead.start, end=lead.end, citations=cite(group),
                       highlights=highlight_spans(lead.text, q_stems), score=round(lead.score, 4))

    shown = [excerpt(g) for g in chosen]
    held = [excerpt(g) for g in more]
    return Answer(question=question, resolved_question=resolved, excerpts=shown, more=held,
                  sources=sorted(sources.values(), key=lambda s: s.number), passages=passages,
                  highlight_terms=sorted(q_stems))


def abstain(question: str, resolved: str, passages: list[Passage], q_stems: set[str]) -> Answer:
    """The polite refusal, with up to three of the retrieved articles as suggestions."""
    seen: set[str] = set()
    suggestions: list[DocumentInfo] = []
    for p in passages:
        if p.doc_id not in seen and len(suggestions) < 3:
            seen.add(p.doc_id)
            suggestions.append(DocumentInfo(id=p.doc_id, title=p.title, source=p.source, url=p.url, date=p.date))
    return Answer(question=question, resolved_question=resolved, decision=Decision.ABSTAINED, message_id="answer.none",
                  suggestions=suggestions, passages=passages, highlight_terms=sorted(q_stems))


def _title_key(index: Index, doc_index: int) -> str:
    return normalize(index.documents[doc_index].title)
