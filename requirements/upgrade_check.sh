#!/usr/bin/env bash
# `make upgrade-check`: the newest versions pyproject.toml allows, in a scratch environment
# (.upgrade-check/), against the lock: prints what changed and runs the fast lane there. It changes
# nothing in the lock or .venv; a failure here is drift to fix before the next `UPGRADE=1 make lock`.
# torch stays at its CPU build (requirements/torch-cpu.txt): PyPI's newer torch is a CUDA build.
set -uo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.tools/bin/uv}
PY=${PY:-python3}
TORCH_WHEELS=${TORCH_WHEELS:-/opt/wheels}
SCRATCH=.upgrade-check
links=(); [[ -d "$TORCH_WHEELS" ]] && links=(--find-links "$TORCH_WHEELS")
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && "$PY" -m venv "$SCRATCH/venv" || exit 2
"$UV" pip install --quiet --python "$SCRATCH/venv/bin/python" --upgrade --resolution highest "${links[@]}" \
  -c requirements/torch-cpu.txt -e ".[dev,st,test-st]" || { echo "upgrade-check: the newest versions do not install (above)"; exit 2; }
"$UV" pip freeze --quiet --python "$SCRATCH/venv/bin/python" --exclude-editable > "$SCRATCH/newest.txt"
echo "== versions: requirements/test.txt -> newest allowed"
"$SCRATCH/venv/bin/python" requirements/drift.py requirements/test.txt "$SCRATCH/newest.txt"
echo "== fast lane (pytest -m 'not slow') in the newest environment"
"$SCRATCH/venv/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider > "$SCRATCH/fast-lane.log" 2>&1
status=$?
grep -E "^(FAILED|ERROR) " "$SCRATCH/fast-lane.log" || true
tail -n 1 "$SCRATCH/fast-lane.log"
echo "upgrade-check: the whole log is $SCRATCH/fast-lane.log; $( ((status == 0)) && echo 'nothing broke' || echo 'something broke (above)')"
exit $status
