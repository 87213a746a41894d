"""The command lines end to end, as real subprocesses: index_build.py and python -m bot.repl."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEED_CORPUS, clean_env

from retrieval.ingest.documents import load_corpus

pytestmark = pytest.mark.slow  # every test runs index_build.py or the REPL as a subprocess

MEETING = "000_bfedeb9d58756a4b"
WITKOFF = "001_1fe97d3039f93416"
QUESTION = "من التقى رشاد؟"


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    # cwd is a temporary folder: no .env of the developer is read
    return subprocess.run([sys.executable, *args], cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, check=False)


def build(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run([str(ROOT / "index_build.py"), *args], cwd)


def ask(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run(["-m", "bot.repl", *args], cwd)


@pytest.fixture()
def workdir(tmp_path: Path, seed_index: Path) -> Path:
    """A copy of the seed corpus with one article replaced by a new one, and a copy of the seed
    index as the previous index (so only the new article is embedded)."""
    shutil.copytree(SEED_CORPUS, tmp_path / "corpus")
    (tmp_path / "corpus" / "004_b35f424f6fbb0f15.txt").unlink()
    (tmp_path / "corpus" / "new.txt").write_text("زيارة وفد تجاري إلى عمّان\nوصل وفد تجاري إلى عمّان أمس لبحث التعاون.\n",
                                                 encoding="utf-8")
    shutil.copytree(seed_index, tmp_path / "index")
    return tmp_path


def test_build_is_then_up_to_date_and_answers(workdir: Path) -> None:
    first = build(workdir, "--corpus", "corpus", "--index-dir", "index")
    assert first.returncode == 0, first.stderr
    assert "Built index: 5 documents" in first.stderr
    assert "embedded" in first.stderr and "Traceback" not in first.stderr

    second = build(workdir, "--corpus", "corpus", "--index-dir", "index")
    assert second.returncode == 0, second.stderr
    assert "is up to date" in second.stderr and "nothing to do" in second.stderr

    as_json = build(workdir, "--corpus", "corpus", "--index-dir", "index", "--json")
    assert as_json.returncode == 0, as_json.stderr
    summary = json.loads(as_json.stdout)
    assert summary["status"] == "unchanged"
    assert summary["documents"] == 5 and summary["chunks"] > 0 and summary["skipped"] == []
    assert summary["embedded"] == 0

    answer = ask(workdir, "--index-dir", "index", "--question", QUESTION, "--json")
    assert answer.returncode == 0, answer.stderr
    data = json.loads(answer.stdout)
    assert data["question"] == QUESTION and data["abstained"] is False
    cited = {source["doc_id"] for source in data["sources"]}
    assert {MEETING, WITKOFF} <= cited
    assert data["excerpts"]
    stored = {doc.source: doc.text for doc in load_corpus(workdir / "corpus")}  # furniture lines out: not the files
    for passage in data["passages"]:
        for key in ("doc_id", "title", "source", "start", "end", "text", "score", "scores", "citation"):
            assert key in passage
        assert stored[passage["source"]][passage["start"] : passage["end"]] == passage["text"]
    # the new article is searchable
    trade = ask(workdir, "--index-dir", "index", "--question", "من وصل إلى عمّان؟", "--json", "--mode", "bm25")
    assert trade.returncode == 0, trade.stderr
    assert json.loads(trade.stdout)["passages"][0]["doc_id"] == "new"


def test_json_build_reports_skipped_files(workdir: Path) -> None:
    (workdir / "corpus" / "broken.jsonl").write_text('{"text": "سطر سليم عن مباراة كرة القدم."}\n{oops\n', "utf-8")
    (workdir / "corpus" / "empty.txt").write_bytes(b"")
    result = build(workdir, "--corpus", "corpus", "--index-dir", "index", "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "built" and summary["documents"] == 6
    assert summary["embedded"] > 0 and summary["reused"] > 0
    assert sorted(summary["skipped"]) == ["broken.jsonl:2: malformed JSON (Expecting property name enclosed in double quotes)",
                                          "empty.txt: empty file"]


def test_repl_options(seed_index: Path, tmp_path: Path) -> None:
    result = ask(tmp_path, "--index-dir", str(seed_index), "--question", QUESTION, "--json", "--k", "2", "--mode", "dense")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["k"] == 2 and data["mode"] == "dense"
    assert len(data["passages"]) == 2
    text = ask(tmp_path, "--index-dir", str(seed_index), "--question", QUESTION, "--no-color")
    assert text.returncode == 0, text.stderr
    assert "رشاد" in text.stdout


def test_missing_index_is_one_line_with_the_fix(tmp_path: Path) -> None:
    result = ask(tmp_path, "--index-dir", str(tmp_path / "nowhere"), "--question", QUESTION, "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "index_build.py" in lines[0] and "Traceback" not in result.stderr


def test_mismatched_index_is_refused_with_the_fix(workdir: Path) -> None:
    manifest_path = workdir / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["params"]["analyzer"] = "ar-0"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    result = ask(workdir, "--index-dir", "index", "--question", QUESTION)
    assert result.returncode == 1
    assert "--rebuild" in result.stderr and "Traceback" not in result.stderr


def test_missing_corpus_is_one_line_with_the_fix(tmp_path: Path) -> None:
    result = build(tmp_path, "--corpus", "no_such_corpus", "--index-dir", "index")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "--corpus" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "index").exists()


def test_help(tmp_path: Path) -> None:
    result = build(tmp_path, "--help")
    assert result.returncode == 0
    assert "--corpus" in result.stdout and "--rebuild" in result.stdout and "Example" in result.stdout
    repl = ask(tmp_path, "--help")
    assert repl.returncode == 0 and "--question" in repl.stdout


def test_build_into_a_folder_that_is_not_an_index_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me", encoding="utf-8")
    result = build(tmp_path, "--corpus", str(SEED_CORPUS), "--index-dir", "notes")
    assert result.returncode == 1
    assert "is not an index" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "notes" / "todo.txt").read_text(encoding="utf-8") == "keep me"


def test_index_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("keep me", encoding="utf-8")
    for index_dir in ("a_file", "a_file/index"):
        result = build(tmp_path, "--corpus", str(SEED_CORPUS), "--index-dir", index_dir)
        assert result.returncode == 1, result.stderr
        assert "\nerror: " in result.stderr and "Traceback" not in result.stderr
        assert (tmp_path / "a_file").read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
