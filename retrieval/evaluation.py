"""Evaluation: answer recall, passage recall@k, MRR, abstention and latency of the pipeline
on a QA set (our JSONL format or SQuAD JSON), and the cached evaluation indexes it runs on.
evaluate.py is its command line; the bench/ scripts use the same helpers."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.ingest.build import build_index
from retrieval.models import Answer, Conversation
from retrieval.pipeline import Pipeline
from retrieval.service import Session, ask
from retrieval.settings import Settings
from retrieval.text.arabic import normalize

RECALL_KS = (1, 3, 5, 10)
# evaluation indexes, one per corpus and settings (relative: under the working folder)
EVAL_CACHE = Path("data/eval-cache")


@dataclass
class QAItem:
    question: str
    answers: list[str]
    all: bool = False


@dataclass
class Conv:
    turns: list[QAItem]


def norm_answer(text: str) -> str:
    """The analyzer's normalisation (no stemming), whitespace collapsed."""
    return " ".join(normalize(text).split())


def contains_gold(text: str, item: QAItem) -> bool:
    """Whether ``text`` holds the gold answer (every one of them when ``item.all``)."""
    haystack = norm_answer(text)
    hits = [norm_answer(a) in haystack for a in item.answers if norm_answer(a)]
    if not hits:
        return False
    return all(hits) if item.all else any(hits)


def read_qa(path: Path) -> list[QAItem]:
    items = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            items.append(QAItem(record["question"], list(record.get("answers", [])), bool(record.get("all", False))))
    return items


def read_conversations(path: Path) -> list[Conv]:
    convs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            convs.append(Conv([QAItem(t["question"], list(t.get("answers", [])), bool(t.get("all", False)))
                               for t in record["turns"]]))
    return convs


def read_squad(path: Path, holdout_articles: int = 0) -> tuple[list[dict], list[QAItem], list[QAItem]]:
    """(documents, answerable questions, held-out questions) of a SQuAD-format file. The last
    ``holdout_articles`` articles are left out of the corpus: their questions are unanswerable."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    keep = len(data) - holdout_articles
    docs, qa, held = [], [], []
    for a_index, article in enumerate(data):
        title = article.get("title", "").replace("_", " ")
        for p_index, paragraph in enumerate(article["paragraphs"]):
            items = [QAItem(q["question"], sorted({a["text"] for a in q["answers"]})) for q in paragraph["qas"]]
            if a_index < keep:
                docs.append({"id": f"{a_index:03d}-{p_index:02d}", "title": title, "text": paragraph["context"]})
                qa.extend(items)
            else:
                held.extend(items)
    return docs, qa, held


def cache_key(corpus: Path, settings: Settings) -> str:
    """What names a cached evaluation index: the corpus path and every setting its files depend on."""
    corpus = Path(corpus).resolve()
    parts = [str(corpus), settings.embedder.embedder, str(settings.embedder.model), str(settings.index.chunk_size),
             str(settings.index.chunk_overlap), settings.index.faiss_factory, settings.backends.bm25_backend,
             str(settings.index.sentence_vectors)]
    if settings.backends.search_backend != "local":  # each engine its own cached index (local keeps its old names)
        parts += [settings.backends.search_backend, str(settings.backends.milvus_uri)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def cached_index_dir(corpus: Path, settings: Settings, cache: Path = EVAL_CACHE) -> Path:
    """Where the cached evaluation index of ``corpus`` under ``settings`` lives."""
    return Path(cache) / f"index-{cache_key(corpus, settings)}"


def cached_index(corpus: Path, settings: Settings, cache: Path = EVAL_CACHE) -> Settings:
    """``settings`` pointing at the evaluation index of ``corpus``, built first when it is missing
    or stale (vectors are reused from the other cached indexes: a second run costs only the questions)."""
    settings = settings.with_(index_dir=cached_index_dir(corpus, settings, cache))
    siblings = [p for p in Path(cache).glob("index-*") if p != settings.index.index_dir]
    build_index(settings, corpus=corpus, index_dir=settings.index.index_dir, reuse_from=siblings)
    return settings


def squad_corpus(path: Path, docs: list[dict], holdout: int | str, cache: Path = EVAL_CACHE) -> Path:
    """The SQuAD paragraphs ``docs`` (read_squad) as a JSONL corpus file under ``cache``, named by
    the SQuAD file's digest and ``holdout``; rewritten only when its content changes."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    target = Path(cache) / f"squad-{digest}-h{holdout}" / "corpus.jsonl"
    content = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    if not target.is_file() or target.read_text(encoding="utf-8") != content:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    return target


@dataclass
class Report:
    mode: str
    k: int
    n_questions: int = 0
    answer_hits: int = 0
    passage_hits: dict[int, int] = field(default_factory=lambda: {k: 0 for k in RECALL_KS})
    reciprocal_ranks: list[float] = field(default_factory=list)
    answer_chars: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    unanswerable: int = 0
    abstained_correctly: int = 0
    answerable_abstained: int = 0
    # the "not sure" band (Answer.unsure): answerable questions answered sure / unsure and the gold
    # found in each group; unanswerable questions answered with the notice
    answered_sure: int = 0
    sure_hits: int = 0
    answered_unsure: int = 0
    unsure_hits: int = 0
    unanswerable_flagged: int = 0
    conv_turns: int = 0
    conv_hits: int = 0
    failures: list[dict] = field(default_factory=list)
    curves: dict[str, dict[int, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        n = max(self.n_questions, 1)
        lat = np.array(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        return {
            "n_questions": self.n_questions,
            "mode": self.mode,
            "k": self.k,
            "answer_recall": round(self.answer_hits / n, 4),
            "passage_recall": {str(k): round(v / n, 4) for k, v in self.passage_hits.items()},
            "mrr": round(float(np.mean(self.reciprocal_ranks)) if self.reciprocal_ranks else 0.0, 4),
            "mean_answer_chars": round(float(np.mean(self.answer_chars)) if self.answer_chars else 0.0, 1),
            "abstention": {"unanswerable": self.unanswerable, "abstained_correctly": self.abstained_correctly,
                           "answerable_abstained": self.answerable_abstained},
            "unsure": {"answered_sure": self.answered_sure, "answered_unsure": self.answered_unsure,
                       "answerable_abstained": self.answerable_abstained,
                       "sure_recall": _share(self.sure_hits, self.answered_sure),
                       "unsure_recall": _share(self.unsure_hits, self.answered_unsure),
                       "unanswerable": self.unanswerable, "unanswerable_flagged": self.unanswerable_flagged,
                       "unanswerable_abstained_or_flagged": self.abstained_correctly + self.unanswerable_flagged},
            "conversation_recall": round(self.conv_hits / self.conv_turns, 4) if self.conv_turns else None,
            "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 2), "p95": round(float(np.percentile(lat, 95)), 2)},
            "failures": self.failures,
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class Evaluator:
    """Asks questions through ``service.ask``, the very function the front ends call (what users see), and scores
    them: the answer, and for passage recall the ranking of the search that made it (``Answer.ranked``, to rank
    10), never a search of its own."""

    def __init__(self, pipeline: Pipeline, mode: str, k: int, curves: bool = False) -> None:
        self.pipeline = pipeline
        self.mode = mode
        self.k = k
        self.curves = curves
        self.report = Report(mode, k)
        self._curve_hits: dict[str, np.ndarray] = {m: np.zeros(10) for m in ("bm25", "dense", "hybrid")}

    def ask(self, item: QAItem, conversation: Conversation | None = None) -> tuple[Answer, bool]:
        started = time.perf_counter()
        answer = ask(self.pipeline, item.question, Session(conversation=conversation, k=self.k, mode=self.mode))
        self.report.latencies_ms.append((time.perf_counter() - started) * 1000)
        return answer, contains_gold(answer.text, item)

    def qa(self, items: list[QAItem]) -> None:
        report = self.report
        for item in items:
            answer, hit = self.ask(item)
            report.n_questions += 1
            report.answer_hits += hit
            report.answer_chars.append(len(answer.text))
            report.answerable_abstained += answer.abstained
            if not answer.abstained:
                report.answered_unsure += answer.unsure
                report.unsure_hits += hit and answer.unsure
                report.answered_sure += not answer.unsure
                report.sure_hits += hit and not answer.unsure
            # the ranking of the very search that made the answer (its period, the conversation's preference)
            passages = answer.ranked
            first = next((p.rank for p in passages if contains_gold(p.text, QAItem("", item.answers))), None)
            for k in RECALL_KS:
                report.passage_hits[k] += first is not None and first <= k
            report.reciprocal_ranks.append(1.0 / first if first else 0.0)
            if self.curves:
                self._curve(item)
            if not hit:
                report.failures.append({"question": item.question, "answers": item.answers, "all": item.all,
                                        "abstained": answer.abstained, "unsure": answer.unsure, "first_gold_rank": first,
                                        "shown": answer.text})

    def _curve(self, item: QAItem) -> None:
        """Passage recall against k in each mode, for the plot: the question's Query searched in every mode."""
        query = self.pipeline.understand(item.question)
        gold = QAItem("", item.answers)
        for mode in self._curve_hits:
            _, passages = self.pipeline.search(query, k=10, mode=mode)
            first = next((p.rank for p in passages if contains_gold(p.text, gold)), None)
            if first:
                self._curve_hits[mode][first - 1 :] += 1

    def unanswerable(self, items: list[QAItem]) -> None:
        for item in items:
            answer, _ = self.ask(item)
            self.report.unanswerable += 1
            self.report.abstained_correctly += answer.abstained
            self.report.unanswerable_flagged += answer.unsure
            if not answer.abstained:
                self.report.failures.append({"question": item.question, "unanswerable": True, "unsure": answer.unsure,
                                             "shown": answer.text})

    def conversations(self, convs: list[Conv]) -> None:
        for conv in convs:
            conversation = Conversation()
            for turn in conv.turns:
                answer, hit = self.ask(turn, conversation)
                self.report.conv_turns += 1
                self.report.conv_hits += hit
                if not hit:
                    self.report.failures.append({"question": turn.question, "conversation": [t.question for t in conv.turns],
                                                 "resolved": answer.resolved_question, "answers": turn.answers, "shown": answer.text})

    def curve_table(self) -> dict[str, list[float]]:
        n = max(self.report.n_questions, 1)
        return {mode: [round(float(v) / n, 4) for v in hits] for mode, hits in self._curve_hits.items()}
