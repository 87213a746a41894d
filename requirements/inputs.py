"""The digest of everything a lock is resolved from: pyproject.toml's requirements (the dependencies,
each extra, requires-python) and this folder's inputs (tools.in, torch-cpu.txt). `make lock` writes it
to inputs.sha256; tests/test_lock.py recomputes it, so a requirement changed without relocking fails
the fast lane with the command that fixes it. Comments and formatting do not count."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
INPUTS = ("tools.in", "torch-cpu.txt")


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def inputs(root: Path = HERE.parent) -> dict:
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {
        "requires-python": project.get("requires-python", ""),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        **{name: requirement_lines(root / "requirements" / name) for name in INPUTS},
    }


def digest(root: Path = HERE.parent) -> str:
    return hashlib.sha256(json.dumps(inputs(root), sort_keys=True).encode()).hexdigest()


if __name__ == "__main__":
    sys.stdout.write(digest() + "\n")
