# Every target makes its own .venv, so a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: serve test lint typecheck pytest bench clean

serve: $(VENV)/.run
	$(BIN)/customergroup-rpc serve $(ARGS)

test: lint typecheck pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy customergroup_rpc

pytest: $(VENV)/.dev
	$(BIN)/pytest

# HTTP figures against baselines of the same run (bench/figures.py); wrk comes from Debian.
bench: $(VENV)/.run
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk || \
	  { apt-get update && apt-get install -y wrk; }
	$(BIN)/python bench/figures.py $(ARGS)

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "customergroup-rpc needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.run: pyproject.toml $(VENV)/.python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
