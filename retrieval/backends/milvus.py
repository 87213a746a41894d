"""The milvus search backend: chunk vectors (dense + BM25 sparse) and sentence vectors in Milvus
(Milvus Lite in a file, or a Milvus server or cluster), the rest of the index in its folder.

Builds. A full build writes a new collection pair (``BASE_gN`` for chunks, ``BASE_gN_s`` for
sentences); an update of the same params whose average chunk length moved less than 2% adds the new
articles' rows and marks the deleted ones in the serving collection, under a new generation (rows
carry the generations that added and removed them; searches filter on the generation of the index
folder being served). Either way the finished build records itself in the catalog last, the index
folder is swapped in, then ``publish`` switches the catalog's pointer and drops what no build serves.
A build that dies leaves the previous folder, its collection and its generation serving.

In the folder: ``milvus.json`` (collections, generation), ``milvus_terms.json`` (term ids, document
frequencies, the average length: the BM25 idf side), ``milvus_keys.npy`` / ``milvus_sentence_keys.npy``
(each row's stable key: a hash of its article's fingerprint and its span, so unchanged rows keep
theirs across builds)."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np

from retrieval.backends import milvus_store as ms
from retrieval.backends.base import Hits, SearchBackend
from retrieval.backends.sparse_bm25 import TermTable, sparse_dot
from retrieval.errors import IndexCorrupt, IndexMismatch
from retrieval.index.embedder_record import REBUILD_HINT, same_vectors
from retrieval.index.layout import CHUNKS, DOCUMENTS, SENTENCE_VECTORS, SENTENCES
from retrieval.index.manifest import Params
from retrieval.index.store import load_array, read_json, save_array, write_json
from retrieval.settings import Settings

RECORD, TERMS, KEYS, SENTENCE_KEYS = "milvus.json", "milvus_terms.json", "milvus_keys.npy", "milvus_sentence_keys.npy"
AVG_DRIFT = 0.02  # an update moving the average chunk length more than this rebuilds (BM25 saturation uses it)


class MilvusBackend(SearchBackend):
    name = "milvus"

    def __init__(self, params: Params, settings: Settings | None = None) -> None:
        super().__init__(params)
        self.settings = settings or Settings()
        self.client, self.uri = ms.connect(self.settings)
        prefix = self.settings.backends.milvus_collection_prefix
        self.catalog = self._guard("cannot keep its catalog", lambda: ms.Catalog(self.client, prefix))
        self._terms: list[list[str]] = []
        self._vectors = np.zeros((0, 0), np.float32)
        self.record: dict = {}
        self.table = TermTable()
        self._keys = np.zeros(0, np.int64)
        self._sorted: tuple[np.ndarray, np.ndarray] = (self._keys, self._keys)
        self._sentence_keys: np.ndarray | None = None
        self._pending: dict | None = None
        self._last = threading.local()

    # --- the seam's build side --------------------------------------------------------------

    @classmethod
    def for_build(cls, params: Params, settings: Settings | None) -> MilvusBackend:
        return cls(params, settings)

    def index_terms(self, corpus_terms: list[list[str]]) -> None:
        self._terms = corpus_terms

    def index_vectors(self, vectors: np.ndarray) -> None:
        self._vectors = np.asarray(vectors, np.float32)

    def save(self, folder: Path) -> None:
        self._guard("failed during the build; the previous index still serves, run the build again",
                    lambda: self._save(Path(folder)))

    def _save(self, folder: Path) -> None:
        index_dir = _index_dir_of(folder)
        base = ms.base_name(self.settings.backends.milvus_collection_prefix, index_dir)
        keys, s_keys, s_vectors = _row_keys(folder, len(self._terms))
        signature = self._signature()
        pointer = self.catalog.get(base)
        previous = _previous_table(index_dir, pointer, signature, self._terms)
        if previous is None:
            generation = (pointer or {}).get("generation", 0) + 1
            coll = f"{base}_g{generation}"
            record = {"collection": coll, "sentences": f"{coll}_s", "generation": generation, "first_generation": generation}
            self.table = TermTable.from_corpus(self._terms)
            kind = ms.index_type(self.settings.backends.milvus_index_type, len(self._terms))
            ms.create_collection(self.client, coll, self._vectors.shape[1], kind, with_sparse=True)
            ms.create_collection(self.client, record["sentences"], self._vectors.shape[1], "FLAT", with_sparse=False)
            self._insert_chunks(record, keys, np.arange(len(keys)))
            self._insert_sentences(record, s_keys, s_vectors, np.arange(len(s_keys)))
        else:
            generation = pointer["generation"] + 1
            record = {**{k: pointer[k] for k in ("collection", "sentences", "first_generation")}, "generation": generation}
            self.table = TermTable.from_corpus(self._terms, previous=previous)
            self._update_rows(record, keys, s_keys, s_vectors)
        for name in (record["collection"], record["sentences"]):
            self.client.flush(name)
            self.client.load_collection(name)
        record.update(base=base, signature=signature, chunks=len(keys), sentence_rows=len(s_keys))
        write_json(folder / RECORD, record)
        self.table.save(folder / TERMS)
        save_array(folder / KEYS, keys)
        save_array(folder / SENTENCE_KEYS, s_keys)
        # last: a build without this record died before finishing, and no loader accepts it
        self.catalog.put(_build_key(record), {k: record[k] for k in ("signature", "chunks", "sentence_rows")})
        self._pending = record
        self._open(record, keys, s_keys)

    def _insert_chunks(self, record: dict, keys: np.ndarray, rows: np.ndarray) -> None:
        ms.insert(self.client, record["collection"], [
            {"id": int(keys[i]), "dense": self._vectors[i].tolist(), "sparse": self.table.doc_vector(self._terms[i]),
             "added": record["generation"], "removed": 0} for i in rows.tolist()])

    def _insert_sentences(self, record: dict, keys: np.ndarray, vectors: np.ndarray | None, rows: np.ndarray) -> None:
        if vectors is not None:
            ms.insert(self.client, record["sentences"], [
                {"id": int(keys[i]), "dense": np.asarray(vectors[i], np.float32).tolist(),
                 "added": record["generation"], "removed": 0} for i in rows.tolist()])

    def _update_rows(self, record: dict, keys: np.ndarray, s_keys: np.ndarray, s_vectors: np.ndarray | None) -> None:
        """Rows of new articles added, rows of deleted ones marked removed, under the new generation."""
        gen = record["generation"]
        for name, new_keys in ((record["collection"], keys), (record["sentences"], s_keys)):
            self.client.delete(name, filter=f"added >= {gen}")  # a killed update's additions
            self._mark_removed(name, f"removed >= {gen}", 0)  # and its removals
            alive = self._alive_keys(name, gen - 1)
            gone = np.setdiff1d(alive, new_keys)
            for start in range(0, len(gone), ms.INSERT_BATCH):
                self._mark_removed(name, f"id in {gone[start:start + ms.INSERT_BATCH].tolist()}", gen)
            added = np.flatnonzero(~np.isin(new_keys, alive))
            if name == record["collection"]:
                self._insert_chunks(record, keys, added)
            else:
                self._insert_sentences(record, s_keys, s_vectors, added)

    def _mark_removed(self, name: str, expr: str, gen: int) -> None:
        rows = self.client.query(name, filter=expr, output_fields=["*"], limit=ms.MAX_LIMIT)
        while rows:
            ms.insert(self.client, name, [{**row, "removed": gen} for row in rows], upsert=True)
            if len(rows) < ms.MAX_LIMIT or gen:  # marking rows removed takes them out of ``expr`` only when gen is 0
                break
            rows = self.client.query(name, filter=expr, output_fields=["*"], limit=ms.MAX_LIMIT)

    def _alive_keys(self, name: str, gen: int) -> np.ndarray:
        found: list[int] = []
        iterator = self.client.query_iterator(name, batch_size=ms.MAX_LIMIT // 2, filter=_alive(gen), output_fields=["id"])
        while batch := iterator.next():
            found.extend(row["id"] for row in batch)
        iterator.close()
        return np.array(sorted(found), np.int64)

    def publish(self) -> None:
        """After the index folder is swapped in: the catalog points at this build; collections no build
        serves are dropped; rows removed before the previous generation are deleted (that generation's
        readers still see the rows this build removed, until they switch)."""
        record, self._pending = self._pending, None
        if record is None:
            return

        def run() -> None:
            self.catalog.put(record["base"], {k: record[k] for k in ("collection", "sentences", "generation",
                                                                      "first_generation", "signature")})
            keep = {record["collection"], record["sentences"]}
            for name in self.client.list_collections():
                if name.startswith(record["base"] + "_g") and name not in keep:
                    self.client.drop_collection(name)
            for name in keep:
                self.client.delete(name, filter=f"removed > 0 and removed < {record['generation']}")
        self._guard("could not switch to the new build (it is in place; the next build tidies up)", run)

    # --- loading ----------------------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path, params: Params, vectors: np.ndarray, settings: Settings | None) -> MilvusBackend:
        self = cls(params, settings)
        try:
            record = read_json(Path(folder) / RECORD)
            self.table = TermTable.load(Path(folder) / TERMS)
            keys, s_keys = load_array(Path(folder) / KEYS, mmap=False), load_array(Path(folder) / SENTENCE_KEYS, mmap=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"Index at {folder} has no readable Milvus record ({exc}); {REBUILD_HINT}.") from None
        done = self._guard("cannot be read", lambda: self.catalog.get(_build_key(record)))
        if done is None:
            raise IndexCorrupt(f"Milvus at {ms.display_uri(self.uri)} has no finished collection {record['collection']} (generation "
                               f"{record['generation']}) for the index at {folder}; {REBUILD_HINT} with this MILVUS_URI.")
        built = done["signature"]
        if not same_vectors(built["embedder"], params.embedder) or built["analyzer"] != params.analyzer:
            raise IndexMismatch(
                f"Milvus collection {record['collection']} at {ms.display_uri(self.uri)} was built with embedder "
                f"{built['embedder'].get('backend')}:{built['embedder'].get('model')} and analyzer {built['analyzer']}, "
                f"the index at {folder} with {params.embedder.get('backend')}:{params.embedder.get('model')} and "
                f"{params.analyzer}; {REBUILD_HINT}.")
        self._guard("cannot load the collection", lambda: self._open(record, keys, s_keys))
        return self

    @classmethod
    def load(cls, folder: Path, params: Params, vectors: np.ndarray) -> MilvusBackend:
        return cls.open(folder, params, vectors, None)

    def _open(self, record: dict, keys: np.ndarray, s_keys: np.ndarray) -> None:
        for name in (record["collection"], record["sentences"]):
            self.client.load_collection(name)
        self.record = record
        self._keys = keys
        order = np.argsort(keys, kind="stable")
        self._sorted = (keys[order], order.astype(np.int64))
        self._sentence_keys = s_keys if len(s_keys) else None
        self._filter = _alive(record["generation"])
        rows = self.client.query(record["collection"], filter=self._filter, output_fields=["count(*)"])
        self._alive = int(rows[0]["count(*)"])

    # --- search -----------------------------------------------------------------------------

    def _search(self, data: list, field: str, k: int) -> Hits:
        k = min(k, ms.MAX_LIMIT, len(self._keys))
        if k <= 0 or not data:
            return Hits.empty()
        params = {"metric_type": "IP", "params": {"ef": max(ms.HNSW_EF, k)} if field == "dense" else {"drop_ratio_search": 0.0}}
        result = self._guard("failed to search", lambda: self.client.search(
            self.record["collection"], data, anns_field=field, limit=k, filter=self._filter, search_params=params))
        hits = result[0] if result else []
        ids = self._rows(np.array([h["id"] for h in hits], np.int64))
        scores = np.array([h["distance"] for h in hits], np.float32)
        order = np.lexsort((ids, -scores))
        return Hits(ids[order], scores[order])

    def dense_top_k(self, vector: np.ndarray, k: int) -> Hits:
        return self._search([np.asarray(vector, np.float32).tolist()], "dense", k)

    def sparse_top_k(self, terms: list[str], k: int) -> Hits:
        query = self.table.query_vector(terms)
        hits = self._search([query] if query else [], "sparse", k)
        keep = hits.scores > 0
        return Hits(hits.ids[keep], hits.scores[keep])

    def _fetch(self, ids: np.ndarray) -> tuple[np.ndarray, list[dict]]:
        """Dense and sparse vectors of chunk rows ``ids`` (one request; the retriever asks for the
        sparse scores and then the vectors of the same candidates)."""
        key = ids.tobytes()
        if getattr(self._last, "key", None) != key:
            wanted = np.unique(self._keys[ids])
            rows = self._guard("failed to read vectors", lambda: self.client.get(
                self.record["collection"], ids=wanted.tolist(), output_fields=["dense", "sparse"]))
            by_key = {row["id"]: row for row in rows}
            picked = [by_key[int(k)] for k in self._keys[ids]]
            dense = np.array([row["dense"] for row in picked], np.float32).reshape(len(ids), -1)
            self._last.value = (dense, [{int(i): float(v) for i, v in row["sparse"].items()} for row in picked])
            self._last.key = key
        return self._last.value

    def sparse_scores(self, terms: list[str], ids: np.ndarray) -> np.ndarray:
        query = self.table.query_vector(terms)
        if not query or not len(ids):
            return np.zeros(len(ids), np.float32)
        return np.array([sparse_dot(query, doc) for doc in self._fetch(np.asarray(ids, np.int64))[1]], np.float32)

    def idf(self, terms: list[str]) -> np.ndarray:
        return self.table.idf(terms)

    def term_frequencies(self) -> dict[str, int]:
        return dict(self.table.df)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self._fetch(np.asarray(ids, np.int64))[0]

    def sentence_vectors(self) -> SentenceVectors | None:
        return SentenceVectors(self) if self._sentence_keys is not None else None

    def counts(self) -> dict[str, int]:
        return {"Milvus chunk rows": self._alive, "Milvus chunk keys": len(self._keys)}

    @property
    def dim(self) -> int:
        return int(self.record["signature"]["dim"]) if self.record else int(self._vectors.shape[1])

    # --- helpers ----------------------------------------------------------------------------

    def _rows(self, keys: np.ndarray) -> np.ndarray:
        sorted_keys, order = self._sorted
        at = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
        if len(keys) and not np.array_equal(sorted_keys[at], keys):  # the generation filter makes this impossible
            raise IndexCorrupt(f"Milvus collection {self.record['collection']} returned rows the index does not hold; {REBUILD_HINT}.")
        return order[at]

    def _signature(self) -> dict:
        return {"embedder": self.params.embedder, "analyzer": self.params.analyzer, "dim": int(self._vectors.shape[1]),
                "index_type": self.settings.backends.milvus_index_type.upper(), "k1": self.table.k1, "b": self.table.b}

    def _guard(self, what: str, action):
        try:
            return action()
        except (IndexCorrupt, IndexMismatch, ms.EngineError):
            raise
        except Exception as exc:  # the engine's and gRPC's errors: one line, the previous index untouched
            ms.forget(self.settings)
            raise ms.engine_error(exc, self.uri, what) from None


class SentenceVectors:
    """The index's sentence vectors in Milvus, indexed by row. ``vectors[rows] @ query`` (all the
    retriever and the composer do with them) is computed by Milvus: a search restricted to those
    rows returns their inner products, 3x faster than reading 600 vectors back (bench/bench_milvus.py)."""

    def __init__(self, backend: MilvusBackend) -> None:
        self.backend = backend
        self.keys = backend._sentence_keys  # noqa: SLF001

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, rows) -> SentenceRows:
        return SentenceRows(self.backend, self.keys[np.asarray(rows, np.int64)])


class SentenceRows:
    """Some sentence rows: ``@ vector`` gives their inner products, ``np.asarray`` their vectors."""

    def __init__(self, backend: MilvusBackend, keys: np.ndarray) -> None:
        self.backend, self.keys = backend, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __matmul__(self, vector: np.ndarray) -> np.ndarray:
        unique = np.unique(self.keys)
        if not len(unique):
            return np.zeros(0, np.float32)
        b = self.backend
        found: dict[int, float] = {}
        for start in range(0, len(unique), ms.MAX_LIMIT):
            part = unique[start:start + ms.MAX_LIMIT].tolist()
            hits = b._guard("failed to score sentences", lambda part=part: b.client.search(
                b.record["sentences"], [np.asarray(vector, np.float32).tolist()], anns_field="dense", limit=len(part),
                filter=f"id in {part}", search_params={"metric_type": "IP"}))
            found.update((h["id"], h["distance"]) for h in (hits[0] if hits else []))
        return np.array([found[int(k)] for k in self.keys], np.float32)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        b = self.backend
        rows = b._guard("failed to read sentence vectors", lambda: b.client.get(  # noqa: SLF001
            b.record["sentences"], ids=np.unique(self.keys).tolist(), output_fields=["dense"]))
        by_key = {row["id"]: row["dense"] for row in rows}
        out = np.array([by_key[int(k)] for k in self.keys], np.float32).reshape(len(self.keys), b.dim)
        return out if dtype is None else out.astype(dtype)


def _alive(gen: int) -> str:
    return f"added <= {gen} and (removed == 0 or removed > {gen})"


def _build_key(record: dict) -> str:
    return f"{record['collection']}@{record['generation']}"


def _index_dir_of(folder: Path) -> Path:
    """The index folder a build writes for: a build stages ``.NAME.tmp-PID`` beside ``NAME``
    (retrieval/index/layout.py); any other folder is its own index."""
    name = folder.name
    if name.startswith(".") and ".tmp-" in name:
        return folder.parent / name[1:].rsplit(".tmp-", 1)[0]
    return folder


def _previous_table(index_dir: Path, pointer: dict | None, signature: dict, terms: list[list[str]]) -> TermTable | None:
    """The serving build's term table when this build can update its collection in place: same
    signature, the folder on disk is that build, and the average length moved less than AVG_DRIFT."""
    if pointer is None or pointer.get("signature") != signature:
        return None
    try:
        if read_json(index_dir / RECORD).get("generation") != pointer["generation"]:
            return None
        table = TermTable.load(index_dir / TERMS)
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    drift = abs(TermTable.average_length(terms) - table.avg_length) / max(table.avg_length, 1e-9)
    return table if drift < AVG_DRIFT else None


def _row_keys(folder: Path, n_chunks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Stable keys of the chunk and sentence rows (article fingerprint + span), and the sentence
    vectors, from the files the writer put in ``folder``; a bare folder (no documents) keys by row."""
    if not (folder / DOCUMENTS).is_file():
        return np.arange(1, n_chunks + 1, dtype=np.int64), np.zeros(0, np.int64), None
    with open(folder / DOCUMENTS, encoding="utf-8") as handle:
        prints = [json.loads(line)["fingerprint"] for line in handle]
    s_vectors = load_array(folder / SENTENCE_VECTORS) if (folder / SENTENCE_VECTORS).is_file() else None
    s_keys = _keys(prints, load_array(folder / SENTENCES, mmap=False), "s") if s_vectors is not None else np.zeros(0, np.int64)
    return _keys(prints, load_array(folder / CHUNKS, mmap=False), "c"), s_keys, s_vectors


def _keys(prints: list[str], rows: np.ndarray, tag: str) -> np.ndarray:
    out = np.empty(len(rows), np.int64)
    seen: set[int] = set()
    for i, (doc, start, end) in enumerate(rows.tolist()):
        text = f"{tag}:{prints[doc]}:{start}:{end}"
        key = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1
        while key in seen or key == 0:  # the same article twice in a corpus: a second key, still stable
            text += "+"
            key = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1
        seen.add(key)
        out[i] = key
    return out
