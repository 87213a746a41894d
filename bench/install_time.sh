#!/usr/bin/env bash
# A fresh test environment (what `make test` installs), timed two ways in one run, each in a new
# venv with an empty package cache: the former pip path (pip install -e ., torch, the extras; resolved
# at install time) and the locked uv path (uv pip sync requirements/test.txt + the editable project).
# Usage: bash bench/install_time.sh [rounds]   (prints one line per round and the medians)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/tools" && "$work/tools/bin/pip" install -q --require-hashes -r requirements/tools.txt
links=(); [[ -d /opt/wheels ]] && links=(--find-links /opt/wheels)
pip_path() {
  python3 -m venv "$work/pip" && PIP_CACHE_DIR="$work/pip-cache" "$work/pip/bin/pip" install -q -e . 2>/dev/null \
    && PIP_CACHE_DIR="$work/pip-cache" "$work/pip/bin/pip" install -q torch==2.13.0 2>/dev/null \
    && PIP_CACHE_DIR="$work/pip-cache" "$work/pip/bin/pip" install -q -e ".[dev,st,test-st]" 2>/dev/null
}
uv_path() {
  python3 -m venv "$work/uv" && UV_CACHE_DIR="$work/uv-cache" "$work/tools/bin/uv" pip sync -q --python "$work/uv/bin/python" \
    "${links[@]}" requirements/test.txt \
    && UV_CACHE_DIR="$work/uv-cache" "$work/tools/bin/uv" pip install -q --python "$work/uv/bin/python" --no-deps -e .
}
declare -a pip_s uv_s
for ((r = 1; r <= rounds; r++)); do
  rm -rf "$work/pip" "$work/uv" "$work/pip-cache" "$work/uv-cache"
  t0=$(date +%s.%N); pip_path; t1=$(date +%s.%N); uv_path; t2=$(date +%s.%N)
  p=$(echo "$t1 - $t0" | bc); u=$(echo "$t2 - $t1" | bc)
  pip_s+=("$p"); uv_s+=("$u")
  printf 'round %d: pip %.1f s, uv (locked) %.1f s\n' "$r" "$p" "$u"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
printf 'median of %d: pip %.1f s, uv (locked) %.1f s, ratio %.1fx\n' "$rounds" "$(median "${pip_s[@]}")" "$(median "${uv_s[@]}")" \
  "$(echo "$(median "${pip_s[@]}") / $(median "${uv_s[@]}")" | bc -l)"
