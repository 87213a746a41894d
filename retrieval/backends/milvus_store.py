"""Milvus for the milvus search backend (the twin of faiss_store.py): the connection, the schemas,
the catalog, and engine errors turned into one-line messages. The only module that imports pymilvus.

MILVUS_URI is a file ending in .db (Milvus Lite: the Milvus core embedded, one process per file)
or http(s)://host:port (a Milvus server, a cluster or a managed service). MILVUS_TOKEN is sent
to the server and never written anywhere: not in a message, a log line or a file.

Milvus Lite 2.5 answers UNIMPLEMENTED to alias calls (measured), so the switch between builds is
a row of a small catalog collection (an upsert is atomic) that works the same on a server."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from retrieval.errors import RetrievalError
from retrieval.settings import Settings

# pymilvus reads MILVUS_URI (from the environment and from .env) at import as its default server, and
# fails to import when it is a Lite file path; ours is read by Settings, so pymilvus sees it empty
_saved_uri = os.environ.get("MILVUS_URI")
os.environ["MILVUS_URI"] = ""
try:
    with warnings.catch_warnings():  # milvus-lite 2.5 imports pkg_resources, which warns on import
        warnings.simplefilter("ignore")
        from pymilvus import DataType, MilvusClient
finally:
    if _saved_uri is None:
        del os.environ["MILVUS_URI"]
    else:
        os.environ["MILVUS_URI"] = _saved_uri
# pymilvus gives its loggers their own console handlers; every failure reaches the caller as one
# EngineError line, so its own lines (retries, iterator notes) would only repeat it on stderr
for _name in ("pymilvus", "pymilvus.milvus_client"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

CATALOG_SUFFIX = "_catalog"
FLAT_BELOW = 200_000  # MILVUS_INDEX_TYPE=auto: exact search below this many chunks, HNSW above
HNSW_BUILD = {"M": 16, "efConstruction": 200}
HNSW_EF = 128  # as the local backend's efSearch (bench/compare_faiss.py: 99% of Flat's top 50)
MAX_LIMIT = 16_384  # Milvus's largest top-k and query window
INSERT_BATCH = 1_000
# pymilvus retries a failed call 75 times with back-off (minutes against a dead server) unless the call
# carries a timeout: every call of ours does, so a dead server is an error after this many seconds
RPC_TIMEOUT = 30
_TIMED = {"insert", "upsert", "delete", "search", "query", "get", "flush", "load_collection", "has_collection",
          "drop_collection", "create_collection", "list_collections", "query_iterator"}
_clients: dict[tuple[str, str], _Timed] = {}
_clients_lock = threading.Lock()


class EngineError(RetrievalError):
    """Milvus cannot be reached or failed; the message names the URI, never the token."""


def display_uri(uri: str) -> str:
    """MILVUS_URI as a message or log line may show it: scheme, host, port and path only; a user, a password,
    a query or a fragment (where a token may ride) are left out. A file path is shown as it is."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:  # an unreadable port or IPv6 literal
        return uri.rpartition("@")[2].split("?")[0] if "@" in uri or "?" in uri else uri
    if not parts.netloc:
        return f"(credentials removed)@{uri.rpartition('@')[2]}" if "@" in uri else uri
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, host + (f":{port}" if port is not None else ""), parts.path, "", ""))


def uri_of(settings: Settings) -> str:
    uri = str(settings.backends.milvus_uri).strip()
    if uri.startswith(("http://", "https://", "tcp://", "unix:")):
        return uri
    if not uri.endswith(".db"):
        raise EngineError(f"MILVUS_URI {display_uri(uri)!r} is neither a Milvus Lite file ending in .db nor"
                          " http(s)://host:port.")
    path = Path(uri).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def _connect_timeout(uri: str) -> int:
    """Seconds to wait for the first answer: a server is up or not (10 s); a Milvus Lite file starts its
    server first, which on two busy cores has taken longer than 10 s (the contract tests failed to connect)."""
    return 10 if uri.startswith(("http://", "https://", "tcp://", "unix:")) else 60


def connect(settings: Settings) -> tuple[_Timed, str]:
    """A client for MILVUS_URI (one per URI and token in a process: Milvus Lite serves a file to one
    process, and every index of that process shares its server)."""
    uri = uri_of(settings)
    token = settings.backends.milvus_token.get_secret_value() if settings.backends.milvus_token else ""
    key = (uri, hashlib.sha256(token.encode()).hexdigest())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            try:
                with warnings.catch_warnings():  # milvus-lite's server start imports pkg_resources
                    warnings.simplefilter("ignore")
                    client = _Timed(MilvusClient(uri=uri, token=token, timeout=_connect_timeout(uri)))
                client.list_collections()  # a wrong token or a dead server fails here, not mid-question
            except Exception as exc:  # pymilvus raises MilvusException, grpc errors, OSError, ValueError...
                raise engine_error(exc, uri, "cannot be reached") from None
            _clients[key] = client
    return client, uri


class _Timed:
    """A MilvusClient whose calls to the server carry RPC_TIMEOUT (read at each call)."""

    def __init__(self, client: MilvusClient) -> None:
        self._client = client

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if name in _TIMED:
            return lambda *args, **kwargs: attr(*args, **{"timeout": RPC_TIMEOUT, **kwargs})
        return attr


def forget(settings: Settings) -> None:
    """Drop this process's client of MILVUS_URI (after its server went away, the next connect is fresh)."""
    uri = uri_of(settings)
    with _clients_lock:
        for key in [k for k in _clients if k[0] == uri]:
            del _clients[key]


def engine_error(exc: BaseException, uri: str, what: str) -> EngineError:
    """One line: what failed, where (display_uri: no credentials), the engine's reason (first line, the URI's
    credentials taken out), and what to do."""
    shown = display_uri(uri)
    reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    reason = reason.replace(uri, shown)
    try:
        password = urlsplit(uri).password
    except ValueError:
        password = None
    if password:
        reason = reason.replace(password, "[REDACTED]")
    reason = reason.strip().splitlines()[0][:200] if reason.strip() else type(exc).__name__
    hint = ("only one process may open a Milvus Lite file: stop the other one, or serve the file from one process "
            "(milvus_lite.server.Server(FILE, 'host:port'), or a Milvus server) and set MILVUS_URI to http://host:port"
            if "opened by another program" in reason
            or "Open local milvus failed" in reason else "check MILVUS_URI and MILVUS_TOKEN and that the server runs")
    return EngineError(f"Milvus at {shown} {what} ({reason}); {hint}.")


def base_name(prefix: str, index_dir: Path) -> str:
    """The collections of one index folder: the prefix and a digest of the folder's absolute path
    (Milvus names: letters, digits and underscores)."""
    digest = hashlib.blake2b(str(Path(index_dir).resolve()).encode(), digest_size=5).hexdigest()
    return f"{clean_prefix(prefix)}_{digest}"


def clean_prefix(prefix: str) -> str:
    clean = "".join(c if c.isascii() and c.isalnum() else "_" for c in prefix) or "newsqa"
    return clean if not clean[0].isdigit() else "_" + clean


def index_type(setting: str, chunks: int) -> str:
    setting = setting.upper()
    if setting == "AUTO":
        return "FLAT" if chunks < FLAT_BELOW else "HNSW"
    if setting not in ("FLAT", "HNSW"):
        raise EngineError(f"MILVUS_INDEX_TYPE {setting!r} is not one of auto, FLAT, HNSW.")
    return setting


def create_collection(client: _Timed, name: str, dim: int, kind: str, with_sparse: bool) -> None:
    """A fresh collection: id (the row's stable key), the dense vector, the BM25 sparse vector (chunks),
    and the generations that added and removed the row (0: still there)."""
    if client.has_collection(name):
        client.drop_collection(name)  # a build killed before finishing left it: never served
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    if with_sparse:
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("added", DataType.INT64)
    schema.add_field("removed", DataType.INT64)
    index = client.prepare_index_params()
    if kind == "HNSW":
        index.add_index("dense", index_type="HNSW", metric_type="IP", params=HNSW_BUILD)
    else:
        index.add_index("dense", index_type="FLAT", metric_type="IP")
    if with_sparse:  # an inverted index with nothing dropped: exact inner products
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP", params={"drop_ratio_build": 0.0})
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


def insert(client: _Timed, name: str, rows: list[dict], upsert: bool = False) -> None:
    for start in range(0, len(rows), INSERT_BATCH):
        batch = rows[start:start + INSERT_BATCH]
        (client.upsert if upsert else client.insert)(name, batch)


class Catalog:
    """One small collection per prefix: a JSON record per key. ``BASE`` -> the serving build of an
    index folder (collection, generation); ``COLLECTION@GENERATION`` -> what a finished build holds
    (embedder, analyzer, counts), written last, so a build that died has no record and is never loaded."""

    def __init__(self, client: _Timed, prefix: str) -> None:
        self.client = client
        self.name = clean_prefix(prefix) + CATALOG_SUFFIX
        if not client.has_collection(self.name):
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
            schema.add_field("record", DataType.VARCHAR, max_length=65_535)
            schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus requires a vector field
            index = client.prepare_index_params()
            index.add_index("v", index_type="FLAT", metric_type="L2")
            client.create_collection(self.name, schema=schema, index_params=index, consistency_level="Strong")

    def get(self, key: str) -> dict[str, Any] | None:
        rows = self.client.get(self.name, ids=[key], output_fields=["record"])
        return json.loads(rows[0]["record"]) if rows else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        self.client.upsert(self.name, [{"key": key, "record": json.dumps(record, ensure_ascii=False), "v": [0.0, 0.0]}])

    def delete(self, keys: list[str]) -> None:
        if keys:
            self.client.delete(self.name, ids=keys)
