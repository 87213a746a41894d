"""`make upgrade-check`'s table: each package whose version differs between a lock and a frozen
environment (added, removed, changed), one line each, major-version changes marked."""

from __future__ import annotations

import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(path: Path) -> dict[str, str]:
    """name -> version (for a universal lock, the line whose marker is in force here wins)."""
    from packaging.markers import Marker

    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if not match:
            continue
        marker = line.partition(";")[2].rstrip(" \\").strip()
        if marker and not Marker(marker).evaluate():
            continue
        found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def main(locked: str, newest: str) -> int:
    old, new = pins(Path(locked)), pins(Path(newest))
    new.pop("pip", None)  # the scratch venv's own installer, not a dependency
    rows = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name, "-"), new.get(name, "-")
        if a != b:
            major = "  (major)" if a != "-" and b != "-" and a.split(".")[0] != b.split(".")[0] else ""
            rows.append(f"  {name:<28} {a:>16} -> {b}{major}")
    print("\n".join(rows) if rows else "  nothing: the lock holds the newest versions allowed")
    print(f"  {len(rows)} of {len(old.keys() | new.keys())} packages differ")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
