"""The documents stay true: the configuration reference matches the settings model, every relative link
in README.md, docs/, bench/ and eval/ resolves, and the README stays a page for users."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_configuration.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    fix = "docs/configuration.md is stale: run `.venv/bin/python docs/gen_configuration.py`"
    assert done.returncode == 0, f"{fix}\n{done.stdout}{done.stderr}"


def test_every_relative_link_resolves() -> None:
    pages = [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("bench/**/*.md"), *ROOT.glob("eval/*.md")]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_readme_is_a_page_for_users() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert "من التقى رشاد؟" in text and "make run" in text and "make test" in text
