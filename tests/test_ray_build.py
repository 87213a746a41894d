"""The Ray Data build (index_build.py --ray) on a real local Ray (two CPUs): the same index as the local
build of the seed corpus (same files, chunks and BM25, vectors within 1e-5, same answers), an update that
embeds only the new article, the command line, and how the work is spread over a cluster's resources."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EVAL, ROOT, SEED_CORPUS, clean_env, seed_settings

import index_build
from retrieval import backends as search_backends
from retrieval.errors import EmbedderUnavailable, RetrievalError
from retrieval.ingest.ray_build import RayPlan, build_index_ray
from retrieval.pipeline import Pipeline

ray = pytest.importorskip("ray", reason="the scale extra (ray[data]) is not installed: pip install '.[scale]'")

# the files that hold vectors (compared within 1e-5); every other file of the index must be byte-identical
VECTOR_FILES = {"chunk_vectors.npy", "sentence_vectors.npy", "faiss.index"}


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray of two CPUs for this module (~4 s to start on an idle machine, ~620 MiB). Ray waits 30 s
    for its control store to start; on two busy cores that was once not enough (every test of the module
    errored), so the wait is raised here (Ray's own override)."""
    wait = "RAY_gcs_server_port_wait_time_s"
    before = os.environ.get(wait)
    os.environ[wait] = before or "180"
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()
    finally:
        if before is None:
            del os.environ[wait]


@pytest.fixture(scope="module")
def ray_index(ray_session, tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("ray") / "index"
    stages: list[str] = []
    reports = []
    result = build_index_ray(seed_settings(index_dir), workers=2, progress=reports.append, on_stage=stages.append)
    assert result.status == "built" and result.embedded == result.chunks + result.sentences > 0
    assert stages == ["load+chunk", "embed", "bm25", "faiss", "write"]  # the local build's stages
    assert reports[0].texts_done == 0 and reports[-1].texts_done == reports[-1].texts_total == result.embedded
    return index_dir


def _manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_ray_build_equals_local_build(ray_index, seed_index):
    ray_manifest, local_manifest = _manifest(ray_index), _manifest(seed_index)
    assert ray_manifest["params"] == local_manifest["params"]
    assert ray_manifest["counts"] == local_manifest["counts"]
    assert ray_manifest["corpus"]["fingerprint"] == local_manifest["corpus"]["fingerprint"]
    assert set(ray_manifest["files"]) == set(local_manifest["files"])
    # documents, chunk spans and texts, sentence spans, text hashes and the BM25 matrix: identical bytes
    different = [name for name, digest in ray_manifest["files"].items()
                 if name not in VECTOR_FILES and digest != local_manifest["files"][name]]
    assert different == []
    for name in ("chunk_vectors.npy", "sentence_vectors.npy"):
        ray_vectors, local_vectors = np.load(ray_index / name), np.load(seed_index / name)
        assert ray_vectors.shape == local_vectors.shape and len(ray_vectors) > 0
        assert np.abs(ray_vectors - local_vectors).max() <= 1e-5


@pytest.mark.slow
def test_ray_build_gives_the_same_answers(ray_index, seed_index, seed_pipeline):
    ray_pipeline = Pipeline.load(seed_settings(ray_index))
    questions = [json.loads(line)["question"] for line in (EVAL / "seed_qa.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    assert len(questions) >= 10
    for question in questions:
        ours, theirs = ray_pipeline.answer(question), seed_pipeline.answer(question)
        assert [p.chunk_index for p in ours.passages] == [p.chunk_index for p in theirs.passages], question
        assert ours.text == theirs.text and ours.abstained == theirs.abstained, question
    both = ray_pipeline.answer("من التقى رشاد؟").text
    assert "نتنياهو" in both and "ويتكوف" in both


@pytest.mark.slow
def test_ray_update_embeds_only_the_new_article_and_the_command_runs(ray_session, ray_index, tmp_path, capsys):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    index_dir = tmp_path / "index"
    shutil.copytree(ray_index, index_dir)
    settings = seed_settings(index_dir).with_(corpus_dir=corpus)
    assert build_index_ray(settings).status == "unchanged"
    (corpus / "new.txt").write_text("مباراة ودية\n\nفاز فريق النادي الأهلي على فريق الزمالك بهدفين في مباراة ودية أقيمت "
                                    "في القاهرة مساء الجمعة.", encoding="utf-8")
    # the command line, in this process: it uses the Ray session already started
    code = index_build.main(["--ray", "--ray-workers", "1", "--corpus", str(corpus), "--index-dir", str(index_dir),
                             "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["status"] == "built" and summary["documents"] == 6
    assert 0 < summary["embedded"] <= 3 and summary["reused"] == _manifest(ray_index)["counts"]["chunks"] + \
        _manifest(ray_index)["counts"]["sentences"]
    answer = Pipeline.load(seed_settings(index_dir)).answer("من فاز في المباراة الودية بين الأهلي والزمالك؟")
    assert "الأهلي" in answer.text and not answer.abstained


@pytest.mark.slow
@pytest.mark.skipif("milvus" not in search_backends.available(), reason="the milvus search backend is not registered")
def test_ray_build_writes_to_milvus_lite(ray_session, seed_pipeline, tmp_path):
    pytest.importorskip("milvus_lite", reason="the milvus extra is not installed")
    settings = seed_settings(tmp_path / "index", search_backend="milvus", milvus_uri=str(tmp_path / "milvus.db"))
    assert build_index_ray(settings).status == "built"
    pipeline = Pipeline.load(settings)
    for question in ("من التقى رشاد؟", "أين التقى رئيس المخابرات المصرية حسن رشاد بنيامين نتنياهو؟"):
        assert pipeline.answer(question).text == seed_pipeline.answer(question).text


WORKER_FAILS = """
import sys
from pathlib import Path

import ray

from retrieval.errors import RetrievalError
from retrieval.ingest.ray_build import build_index_ray
from retrieval.settings import Settings

# a cluster that offers a GPU whose workers have no CUDA: each worker's embedder refuses to start
ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
settings = Settings(_env_file=None, corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2]), embedder="torch",
                    embed_device="cuda")
try:
    build_index_ray(settings)
except RetrievalError as exc:
    print("REFUSED:", exc)  # Ray itself prints the dead worker's traceback on stdout too
"""


@pytest.mark.slow
def test_a_failing_worker_stops_the_build_and_the_previous_index_serves(seed_index, tmp_path):
    pytest.importorskip("torch", reason="the torch runtime is not installed")
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    (corpus / "new.txt").write_text("خبر جديد\n\nافتتحت البلدية حديقة عامة جديدة في وسط المدينة.", encoding="utf-8")
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index, index_dir)
    before = (index_dir / "manifest.json").read_bytes()
    done = subprocess.run([sys.executable, "-c", WORKER_FAILS, str(corpus), str(index_dir)], env=clean_env(),
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    refused = [line.removeprefix("REFUSED: ") for line in done.stdout.splitlines() if line.startswith("REFUSED: ")]
    assert done.returncode == 0 and len(refused) == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert refused[0].startswith("A Ray worker failed, so nothing was written (the previous index still serves")
    assert refused[0].endswith(": EMBED_DEVICE=cuda but torch sees no CUDA device; use cpu.")
    assert (index_dir / "manifest.json").read_bytes() == before


def test_command_refuses_ray_with_watch(capsys):
    assert index_build.main(["--ray", "--watch"]) == 2
    assert "--ray builds once" in capsys.readouterr().err


def test_plan_one_worker_per_gpu_or_per_threads():
    gpu = RayPlan.from_settings(seed_settings(Path("unused"), embedder="torch", embed_device="cuda:1"),
                                {"CPU": 64.0, "GPU": 8.0})
    # Ray hands each actor its own GPU as CUDA_VISIBLE_DEVICES, so the worker's device is plain cuda
    assert (gpu.workers, gpu.num_gpus, gpu.embedder_options["device"]) == (8, 1.0, "cuda")
    cpu = RayPlan.from_settings(seed_settings(Path("unused"), embed_threads=2), {"CPU": 9.0})
    assert (cpu.workers, cpu.num_gpus, cpu.num_cpus, cpu.embedder_options["threads"]) == (4, 0.0, 2.0, 2)
    assert RayPlan.from_settings(seed_settings(Path("unused")), {"CPU": 9.0}, workers=3).workers == 3
    assert Path(RayPlan.from_settings(seed_settings(Path("unused")), {"CPU": 1.0}).embedder_options["models_dir"]).is_absolute()


def test_plan_refuses_cuda_without_a_gpu_and_zero_workers():
    with pytest.raises(EmbedderUnavailable, match=r"EMBED_DEVICE=cuda but the Ray cluster has no GPU \(its resources: CPU=2\)"):
        RayPlan.from_settings(seed_settings(Path("unused"), embedder="torch", embed_device="cuda"), {"CPU": 2.0})
    with pytest.raises(RetrievalError, match="--ray-workers must be at least 1"):
        RayPlan.from_settings(seed_settings(Path("unused")), {"CPU": 2.0}, workers=0)


def test_command_says_when_the_cluster_cannot_be_reached(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**clean_env(), "RAY_ADDRESS": f"127.0.0.1:{port}"}
    done = subprocess.run([sys.executable, str(ROOT / "index_build.py"), "--ray", "--corpus", str(SEED_CORPUS),
                           "--index-dir", str(tmp_path / "index")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"error: Cannot reach the Ray cluster at 127.0.0.1:{port}" in done.stderr and "RAY_ADDRESS" in done.stderr
    assert not (tmp_path / "index").exists()
