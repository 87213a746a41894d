"""The index on disk, with one owner: layout (file names), manifest (typed model and checks),
writer (temporary sibling + swap, recovery), reader (the checked loader), cache (embedding cache)."""

from retrieval.errors import RetrievalError
from retrieval.index.embedder_record import REBUILD_HINT
from retrieval.index.layout import MANIFEST, old_dir
from retrieval.index.manifest import SCHEMA_VERSION, Manifest, Params, build_params, check_compatible, read_manifest
from retrieval.index.reader import Index
from retrieval.index.writer import recover_swap

__all__ = ["MANIFEST", "REBUILD_HINT", "SCHEMA_VERSION", "Index", "Manifest", "Params", "RetrievalError", "build_params",
           "check_compatible", "old_dir", "read_manifest", "recover_swap"]
