"""Index build: load -> chunk -> embed (cached, resumable) -> commit (search backend + files,
written into a temporary sibling folder and swapped in). The folder is described in
retrieval/index/layout.py; retrieval/index/ owns writing and loading it."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval import __version__
from retrieval import backends as search_backends
from retrieval.embedders import Embedder
from retrieval.embedders import from_settings as embedder_from_settings
from retrieval.errors import CorpusEmpty
from retrieval.index.cache import EmbeddingCache, EmbedProgress, ProgressCallback
from retrieval.index.embedder_record import cache_salt, same_build
from retrieval.index.layout import cache_dir
from retrieval.index.manifest import CorpusInfo, Counts, Manifest, Params, build_params, read_manifest_quietly
from retrieval.index.store import text_hash
from retrieval.index.writer import IndexContent, IndexWriter, build_lock, write_content
from retrieval.ingest.chunking import chunk_document, sentence_units
from retrieval.ingest.documents import FieldLimits, LoadReport, fingerprint, load_corpus
from retrieval.models import Document, DocumentInfo
from retrieval.settings import Settings
from retrieval.text.arabic import analyze

__all__ = ["BuildResult", "BuildSteps", "ChunkedCorpus", "DocumentCut", "EmbedProgress", "EmbeddingCache", "build_index",
           "bm25_input", "cut_document", "load_and_chunk"]


@dataclass
class BuildResult:
    """What a build did, for the CLI to report."""

    index_dir: Path
    status: str  # "built" | "unchanged"
    documents: int = 0
    chunks: int = 0
    sentences: int = 0
    embedded: int = 0  # texts embedded in this run
    reused: int = 0  # texts whose vectors came from the cache
    seconds: float = 0.0
    report: LoadReport = field(default_factory=LoadReport)
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class DocumentCut:
    """One document cut into chunks and sentences: spans into its text and the texts themselves."""

    chunk_spans: list[tuple[int, int]]
    chunk_texts: list[str]
    sentence_spans: list[tuple[int, int]]
    sentence_texts: list[str]


@dataclass
class ChunkedCorpus:
    """The corpus, loaded and cut: documents.jsonl records, chunk and sentence spans and texts.
    ``chunk_terms`` are the chunks' BM25 terms when a distributed build analysed them already
    (None: the commit analyses the chunks itself)."""

    docs: list[dict] = field(default_factory=list)
    chunk_rows: list[tuple[int, int, int]] = field(default_factory=list)
    chunk_texts: list[str] = field(default_factory=list)
    sentence_rows: list[tuple[int, int, int]] = field(default_factory=list)
    sentence_texts: list[str] = field(default_factory=list)
    chunk_terms: list[list[str]] | None = None

    @functools.cached_property
    def corpus_fingerprint(self) -> str:
        return text_hash("\n".join(d["fingerprint"] for d in self.docs)).hex()

    def add(self, doc: Document, cut: DocumentCut) -> None:
        """Append ``doc`` (its documents.jsonl record) and its chunks and sentences."""
        doc_index = len(self.docs)
        first = len(self.chunk_rows)
        self.chunk_rows.extend((doc_index, start, end) for start, end in cut.chunk_spans)
        self.chunk_texts.extend(cut.chunk_texts)
        self.sentence_rows.extend((doc_index, start, end) for start, end in cut.sentence_spans)
        self.sentence_texts.extend(cut.sentence_texts)
        info = DocumentInfo(id=doc.id, title=doc.title, source=doc.source, url=doc.url, date=doc.date)
        self.docs.append({**info.model_dump(), "metadata": doc.metadata, "fingerprint": fingerprint(doc),
                          "chunks": [first, len(self.chunk_rows)]})


@dataclass(frozen=True)
class BuildSteps:
    """The steps a distributed build (retrieval/ingest/ray_build.py) does its own way; everything else
    (the up-to-date check, the resume cache's lookups, the commit) is the same code for every build.
    ``load_and_chunk(corpus, settings, report)`` gives the corpus cut; ``embedding_cache(folder, dim)``
    the cache whose ``fill`` embeds the texts it lacks."""

    load_and_chunk: Callable[[Path, Settings, LoadReport], ChunkedCorpus]
    embedding_cache: Callable[[Path, int], EmbeddingCache] = EmbeddingCache


def build_index(
    settings: Settings,
    corpus: Path | None = None,
    index_dir: Path | None = None,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: ProgressCallback | bool | None = None,
    on_stage: Callable[[str], None] | None = None,
    reuse_from: list[Path] | None = None,
    steps: BuildSteps | None = None,
) -> BuildResult:
    """Build (or update) the index of ``corpus`` into ``index_dir``.

    Unchanged corpus and settings: nothing is done. Otherwise vectors of unchanged texts
    are reused from the existing index and from the resume cache, new texts are embedded
    (and cached as they go, so a killed build resumes; ``reuse_from`` names other index
    folders whose vectors may be reused), then the new index is written to a
    temporary sibling folder and swapped in. The whole build holds the index's lock (``build_lock``):
    a second build of the same index waits BUILD_LOCK_WAIT_SECONDS, then raises IndexBusy.
    ``progress`` is called with an ``EmbedProgress`` as the embedding goes (``False``, as older callers
    pass, means no reports); ``on_stage`` with each stage's name as it starts; ``steps``: how the
    corpus is cut and the texts embedded (by default here, in this process; retrieval/ingest/ray_build.py
    passes a Ray cluster's)."""
    started = time.perf_counter()
    corpus = Path(corpus or settings.index.corpus_dir)
    index_dir = Path(index_dir or settings.index.index_dir)
    IndexWriter(index_dir).check_place()  # a file where the index should be: refused before any lock file is made
    with build_lock(index_dir, settings.index.build_lock_wait_seconds):  # one build of an index at a time, load to swap
        return _build(settings, corpus, index_dir, rebuild, embedder, progress, on_stage, reuse_from,
                      steps or BuildSteps(load_and_chunk), started)


def _build(settings: Settings, corpus: Path, index_dir: Path, rebuild: bool, embedder: Embedder | None,
           progress: ProgressCallback | bool | None, on_stage: Callable[[str], None] | None, reuse_from: list[Path] | None,
           steps: BuildSteps, started: float) -> BuildResult:
    """``build_index`` under the build lock."""
    stages = _Stages(on_stage)
    writer = IndexWriter(index_dir)
    writer.prepare()
    if not corpus.exists():
        raise CorpusEmpty(f"Corpus {corpus} does not exist; put .txt/.md/.jsonl/.html articles there or pass --corpus DIR.")
    embedder = embedder or embedder_from_settings(settings)
    params = build_params(settings, embedder)

    report = LoadReport()
    with stages("load+chunk"):
        chunked = steps.load_and_chunk(corpus, settings, report)
    if not chunked.docs:
        raise CorpusEmpty(f"No readable article in {corpus} ({len(report.skipped)} skipped); see the warnings above.")
    corpus_fp = chunked.corpus_fingerprint
    old = read_manifest_quietly(index_dir)
    if not rebuild and old is not None and same_build(old.params, params) and old.corpus.fingerprint == corpus_fp:
        writer.tidy()
        return BuildResult(index_dir, "unchanged", len(chunked.docs), len(chunked.chunk_rows), len(chunked.sentence_rows),
                           seconds=time.perf_counter() - started, report=report, stage_seconds=stages.seconds)

    with stages("embed"):
        cache = steps.embedding_cache(cache_dir(index_dir), embedder.dim)
        if not rebuild:
            cache.add_index(index_dir, old, params)
            for other in reuse_from or []:  # e.g. indexes of the same corpus with another chunk size
                cache.add_index(other, read_manifest_quietly(other), params)
        # chunks are embedded as they are: leading them with the title lowered dense recall@1 on
        # XQuAD-ar (0.870 -> 0.853); BM25 does get the title (see _corpus_terms)
        texts = chunked.chunk_texts + (chunked.sentence_texts if settings.index.sentence_vectors else [])
        salt = cache_salt(embedder)
        hashes = np.array([text_hash(t, salt) for t in texts], dtype="S16") if texts else np.zeros(0, "S16")
        vectors, embedded = cache.fill(texts, hashes, embedder, settings.embedder.embed_batch_size,
                                       progress if callable(progress) else None)

    _commit(writer, chunked, vectors, hashes, params, stages, corpus, report, started, settings)
    cache.clear()
    return BuildResult(index_dir, "built", len(chunked.docs), len(chunked.chunk_rows), len(chunked.sentence_rows),
                       embedded=embedded, reused=len(texts) - embedded, seconds=time.perf_counter() - started,
                       report=report, stage_seconds=stages.seconds)


def load_and_chunk(corpus: Path, settings: Settings, report: LoadReport) -> ChunkedCorpus:
    """The local build's first step. Streamed: only chunk and sentence texts and spans are kept,
    not whole documents."""
    out = ChunkedCorpus()
    for doc in load_corpus(corpus, report, FieldLimits.from_settings(settings)):
        out.add(doc, cut_document(doc, settings.index.chunk_size, settings.index.chunk_overlap))
    return out


def cut_document(doc: Document, chunk_size: int, chunk_overlap: int) -> DocumentCut:
    """The chunks and sentence units of one document (every build cuts with this)."""
    chunks = chunk_document(doc, chunk_size, chunk_overlap)
    sentences = sentence_units(doc.text, chunk_size)
    return DocumentCut([(c.start, c.end) for c in chunks], [c.text for c in chunks],
                       sentences, [doc.text[start:end] for start, end in sentences])


def _commit(writer: IndexWriter, chunked: ChunkedCorpus, vectors: np.ndarray, hashes: np.ndarray, params: Params,
            stages: _Stages, corpus: Path, report: LoadReport, started: float, settings: Settings | None = None) -> None:
    """The search backend over the chunks, then every file, written beside the index and swapped in."""
    n_chunks = len(chunked.chunk_texts)
    with_sentences = params.sentence_vectors
    with writer.stage() as tmp:
        backend = search_backends.create(params, settings)
        with stages("bm25"):
            backend.index_terms(_interned(chunked.chunk_terms) if chunked.chunk_terms is not None else
                                _corpus_terms([bm25_input(chunked.docs[d]["title"], text, s)
                                               for (d, s, _), text in zip(chunked.chunk_rows, chunked.chunk_texts)]))
        with stages("faiss"):
            backend.index_vectors(vectors[:n_chunks])
        with stages("write"):
            write_content(tmp, IndexContent(
                documents=chunked.docs,
                chunk_rows=_rows(chunked.chunk_rows),
                chunk_texts=chunked.chunk_texts,
                chunk_vectors=vectors[:n_chunks],
                chunk_hashes=hashes[:n_chunks],
                sentence_rows=_rows(chunked.sentence_rows),
                sentence_vectors=vectors[n_chunks:] if with_sentences else None,
                sentence_hashes=hashes[n_chunks:] if with_sentences else None,
            ), backend)
            writer.commit(tmp, Manifest(
                params=params,
                built_with=f"retrieval {__version__}",
                created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                build_seconds=round(time.perf_counter() - started, 3),
                corpus=CorpusInfo(path=str(corpus), fingerprint=chunked.corpus_fingerprint, skipped=len(report.skipped)),
                counts=Counts(documents=len(chunked.docs), chunks=n_chunks, sentences=len(chunked.sentence_rows),
                              characters=int(sum(len(t) for t in chunked.chunk_texts))),
            ))
    backend.publish()  # an engine outside the folder switches to this build (local: nothing to do)


def _rows(rows: list[tuple[int, int, int]]) -> np.ndarray:
    return np.asarray(rows, dtype=np.int32).reshape(-1, 3)


def _corpus_terms(chunk_inputs: list[str]) -> list[list[str]]:
    """The BM25 terms of every chunk. Each distinct term is kept once (the lists hold references to
    one string): at the full ANT corpus the term lists take 60% less memory (bench/bench_scale.py)."""
    canonical: dict[str, str] = {}
    return [[canonical.setdefault(term, term) for term in analyze(text)] for text in chunk_inputs]


def _interned(corpus_terms: list[list[str]]) -> list[list[str]]:
    """Term lists analysed elsewhere (each string its own copy), made to share one string per term."""
    canonical: dict[str, str] = {}
    return [[canonical.setdefault(term, term) for term in terms] for terms in corpus_terms]


def bm25_input(title: str, text: str, start: int) -> str:
    """The text a chunk is analysed from for BM25 (every build analyses this)."""
    # the headline is a strong BM25 signal; add it to a document's first chunk when the text lacks it
    return text if start > 0 or title.rstrip("…") in text else f"{title}\n{text}"


class _Stages:
    """Announces each stage (``on_stage``) and times it."""

    def __init__(self, on_stage: Callable[[str], None] | None) -> None:
        self._announce = on_stage or (lambda name: None)
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self._announce(name)
        t0 = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - t0
