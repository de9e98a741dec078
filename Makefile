# Every target makes its own .venv, so a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: serve test lint typecheck pytest fuzz mutate bench browser clean

serve: $(VENV)/.run
	$(BIN)/customergroup-rpc serve $(ARGS)

test: lint typecheck pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy customergroup_rpc
	cd bench && ../$(BIN)/mypy --strict *.py
	$(BIN)/mypy --strict examples tools

pytest: $(VENV)/.dev browser
	$(BIN)/pytest -rs

# Many more generated inputs than make test tries (tests/test_fuzz.py, hypothesis profile "fuzz").
fuzz: $(VENV)/.dev
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/test_fuzz.py -p no:cacheprovider

# Mutation testing (tools/mutate.py): each module against its own tests, a score per module.
# Minutes per module, so not part of make test; ARGS="text state" picks modules.
mutate: $(VENV)/.dev
	$(BIN)/python tools/mutate.py $(ARGS)

# The console's browser tests drive Debian's Chromium (CHROMIUM: a command or a path). As root,
# install it when it is missing; otherwise say so: those tests skip, everything else runs.
CHROMIUM ?= chromium
export CHROMIUM
browser:
	@command -v $(CHROMIUM) >/dev/null 2>&1 || if [ "$$(id -u)" != 0 ]; then \
	  echo "Chromium not found and not root: the console's browser test will be skipped; install Debian's chromium to run it"; \
	elif ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; fi

# HTTP figures against baselines of the same run (bench/figures.py); wrk comes from Debian.
bench: $(VENV)/.run
	@command -v wrk >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants
