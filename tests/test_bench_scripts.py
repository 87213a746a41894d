"""Every bench/ script imports (its main not run) and answers --help: an API change that breaks a script shows
up in the fast lane, not the next time someone measures."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "bench").glob("*.py"))
NO_HELP = {"common.py"}  # the helpers, run as a script only as run_child's child


def test_the_scripts_are_found() -> None:
    assert len(SCRIPTS) > 20 and any(script.name == "dump_answers.py" for script in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_a_bench_script_imports(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the scripts put the repository and bench/ on sys.path (``from common import ...``): a copy, restored after
    monkeypatch.setattr(sys, "path", [str(ROOT), str(ROOT / "bench"), *sys.path])
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    spec = importlib.util.spec_from_file_location(f"bench_script_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # __name__ is not "__main__": main() does not run
    if script.name not in NO_HELP:
        assert callable(getattr(module, "main", None)), f"{script.name} has no main()"


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s.name not in NO_HELP], ids=lambda path: path.name)
def test_a_bench_script_answers_help(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:"), done.stdout[:500]
