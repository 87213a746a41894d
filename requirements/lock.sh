#!/usr/bin/env bash
# `make lock`: resolve pyproject.toml into the hashed lock files of this folder (uv pip compile).
#   UPGRADE=1 make lock   newest versions pyproject allows; otherwise the pins already here are kept
#                         where they still satisfy pyproject, and only what changed is resolved anew.
# Universal locks (Python 3.10-3.13, any platform, markers per version): base, milvus, scale, dev.
# Locks that hold torch are for CPython 3.11 on x86-64 Linux, where its CPU build's wheel is on
# disk here (st, test); other Pythons need that wheel from PyTorch's CPU index (see docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.tools/bin/uv}
TORCH_WHEELS=${TORCH_WHEELS:-/opt/wheels}
upgrade=(); [[ "${UPGRADE:-0}" == 1 ]] && upgrade=(--upgrade)
links=(); [[ -d "$TORCH_WHEELS" ]] && links=(--find-links "$TORCH_WHEELS")
common=(--quiet --generate-hashes --custom-compile-command "make lock" "${upgrade[@]}")
universal=(--universal --python-version 3.10)
cpython311=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 "${links[@]}" -c requirements/torch-cpu.txt)

"$UV" pip compile "${common[@]}" --universal requirements/tools.in -o requirements/tools.txt
"$UV" pip compile "${common[@]}" "${universal[@]}" pyproject.toml -o requirements/base.txt
# every other lock keeps base's versions where they overlap, so `make run` and `make test` agree
for extra in milvus scale dev; do
  "$UV" pip compile "${common[@]}" "${universal[@]}" pyproject.toml --extra "$extra" -c requirements/base.txt \
    -o "requirements/$extra.txt"
done
"$UV" pip compile "${common[@]}" "${cpython311[@]}" pyproject.toml --extra st -c requirements/base.txt \
  -o requirements/st.txt
"$UV" pip compile "${common[@]}" "${cpython311[@]}" pyproject.toml --extra dev --extra st --extra test-st \
  -c requirements/base.txt -o requirements/test.txt
python3 requirements/inputs.py > requirements/inputs.sha256
echo "locked: requirements/*.txt (check: make test-fast runs tests/test_lock.py)"
