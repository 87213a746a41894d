"""Shared fixtures: a real index over the seed corpus (built once per session) and a
deterministic fake embedder for fast unit tests of index mechanics."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedders.base import Embedder
from retrieval.ingest.build import build_index
from retrieval.pipeline import Pipeline
from retrieval.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"
EVAL = ROOT / "eval"
SHARED = ROOT.parent / "shared"
XQUAD = SHARED / "data" / "xquad" / "xquad.ar.json"
ANT = SHARED / "data" / "ant-news" / "ant_news_2018.jsonl.gz"


class FakeEmbedder(Embedder):
    """Deterministic hashed bag-of-words vectors: fast, no model, good enough for mechanics.
    ``calls`` counts embedded passages, so tests can check what was (re)embedded."""

    backend = "fake"

    def __init__(self, dim: int = 64, fail_after: int | None = None) -> None:
        super().__init__()
        self._dim = dim
        self.calls = 0
        self.fail_after = fail_after

    @property
    def model_id(self) -> str:
        return f"hash-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not is_query:
            if self.fail_after is not None and self.calls + len(texts) > self.fail_after:
                raise KeyboardInterrupt("simulated kill during embedding")
            self.calls += len(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, h % self._dim] += 1.0
            out[row, 0] += 1e-3  # never an all-zero vector
        return out


def clean_env() -> dict[str, str]:
    """The environment without any setting the program reads (no INDEX_DIR etc. from outside),
    for running the command-line programs as subprocesses."""
    names = Settings.env_names()
    env = {key: value for key, value in os.environ.items() if key.upper() not in names}
    env["PYTHONPATH"] = str(ROOT)
    env["MODELS_DIR"] = str(ROOT / "data" / "models")  # the converted encoder, shared by every test (converted once)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def seed_settings(index_dir: Path, **overrides) -> Settings:
    return Settings(_env_file=None, corpus_dir=SEED_CORPUS, index_dir=index_dir, **overrides)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    """A real index (the default embedder: e5-small on ONNX Runtime) over corpus/, built once for the whole session."""
    index_dir = tmp_path_factory.mktemp("seed") / "index"
    build_index(seed_settings(index_dir), progress=False)
    return index_dir


@pytest.fixture(scope="session")
def seed_pipeline(seed_index) -> Pipeline:
    return Pipeline.load(seed_settings(seed_index))


@pytest.fixture()
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()
