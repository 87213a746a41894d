"""The lock (requirements/*.txt, `make lock`) agrees with pyproject.toml, pins torch's CPU build, and
the code uses no dependency's private modules (ruff's SLF rule covers private attributes)."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
# which extras each lock holds (requirements/lock.sh)
EXTRAS = {"base": [], "milvus": ["milvus"], "scale": ["scale"], "dev": ["dev"], "st": ["st"],
          "test": ["dev", "st", "test-st"]}
FIX = "pyproject.toml and requirements/ disagree: run `make lock` and commit requirements/"


def _inputs_module():
    spec = importlib.util.spec_from_file_location("lock_inputs", LOCKS / "inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(name: str) -> dict[str, list[tuple[str, str]]]:
    """package -> [(version, marker)] as the lock file pins it."""
    found: dict[str, list[tuple[str, str]]] = {}
    for line in (LOCKS / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            found.setdefault(canonicalize_name(match.group(1)), []).append((match.group(2), match.group(3) or ""))
    return found


def project() -> dict:
    return _inputs_module().inputs(ROOT)


def test_the_lock_was_made_from_this_pyproject() -> None:
    recorded = (LOCKS / "inputs.sha256").read_text(encoding="ascii").strip()
    assert recorded == _inputs_module().digest(ROOT), FIX


@pytest.mark.parametrize("lock", sorted(EXTRAS))
def test_every_requirement_is_pinned_within_its_range(lock: str) -> None:
    locked = pins(lock)
    spec = project()
    wanted = [Requirement(r) for r in spec["dependencies"]]
    wanted += [Requirement(r) for extra in EXTRAS[lock] for r in spec["optional-dependencies"][extra]]
    for requirement in wanted:
        if requirement.marker and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements/{lock}.txt. {FIX}"
        here = [version for version, marker in locked[name] if not marker or Marker(marker).evaluate()]
        assert here, f"requirements/{lock}.txt pins {name} for no marker that holds on Python {sys.version_info[:2]}"
        for version in here:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements/{lock}.txt pins {name}=={version}, outside {requirement}. {FIX}")


def test_every_pin_carries_hashes() -> None:
    for path in LOCKS.glob("*.txt"):
        if path.name == "torch-cpu.txt":
            continue
        text = path.read_text(encoding="utf-8")
        assert text.count("==") and text.count("==") <= text.count("--hash=sha256:"), path.name


@pytest.mark.parametrize("lock", ["st", "test"])
def test_torch_is_the_cpu_build_and_nothing_pulls_cuda(lock: str) -> None:
    locked = pins(lock)
    assert [v for v, _ in locked["torch"]] == ["2.13.0+cpu"]
    for name in locked:
        assert not name.startswith(("nvidia-", "triton")), f"requirements/{lock}.txt holds {name}: a CUDA build"
    assert "torch" not in pins("base")  # the default install needs no torch


def _our_modules() -> set[str]:
    return {p.stem for p in ROOT.glob("*.py")} | {p.name for p in ROOT.iterdir() if p.is_dir()} | {"conftest"}


def test_no_private_module_of_a_dependency_is_imported() -> None:
    ours, found = _our_modules(), []
    for path in ROOT.rglob("*.py"):
        if any(part.startswith(".") for part in path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] not in ours and any(p.startswith("_") and not p.startswith("__") for p in parts):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not found, f"private modules of dependencies (use their public API): {found}"


def test_upgrade_checks_table_names_each_changed_version(tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("lock_drift", LOCKS / "drift.py")
    drift = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(drift)
    (tmp_path / "lock.txt").write_text(
        "numpy==1.26.4 \\\n    --hash=sha256:00\nold-gone==1.0 ; python_version >= '3.0'\n"
        "never-here==9.9 ; python_version < '3.0'\nsame==2.0\n", encoding="utf-8")
    (tmp_path / "frozen.txt").write_text("numpy==2.4.6\nsame==2.0\nnew_one==0.1\npip==23.2.1\n", encoding="utf-8")
    assert drift.main(str(tmp_path / "lock.txt"), str(tmp_path / "frozen.txt")) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "1.26.4 -> 2.4.6  (major)" in out
    assert "old-gone" in out and "1.0 -> -" in out and "new-one" in out and "- -> 0.1" in out
    assert "same" not in out and "never-here" not in out and "pip" not in out
    assert "3 of 4 packages differ" in out
