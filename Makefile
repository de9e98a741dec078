# Every target makes its own .venv, so a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: serve serve-pg test lint typecheck pytest fuzz mutate bench browser postgres clean messages

# The compiled message catalogues: every install compiles them (hatch_build.py); after a .po
# changes, make serve and make test compile it again.
MO := $(patsubst %.po,%.mo,$(wildcard customergroup_rpc/locale/*/LC_MESSAGES/*.po))
%.mo: %.po | $(VENV)/.run
	$(BIN)/pybabel -q compile -i $< -o $@

serve: $(VENV)/.run $(MO)
	$(BIN)/customergroup-rpc serve $(ARGS)

# serve on a PostgreSQL cluster of its own (harness/postgres.py), stopped when serve stops:
# kept in PGDIR (./.pg/, on 127.0.0.1 and a free port); PGDIR= makes a throwaway one.
PGDIR ?= .pg
serve-pg: $(VENV)/.run $(MO) postgres
	$(BIN)/python -m harness.postgres $(if $(PGDIR),--dir $(PGDIR)) -- \
	  $(BIN)/customergroup-rpc serve $(ARGS)

test: lint typecheck pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy customergroup_rpc
	$(BIN)/mypy --strict harness bench tests
	$(BIN)/mypy --strict examples tools

pytest: $(VENV)/.dev $(MO) browser postgres
	$(BIN)/pytest -rs

# After adding or changing a message in the code: extract every message, update each catalogue
# (pybabel marks new and changed entries; translate them, then make test says what is missing).
messages: $(VENV)/.dev
	mkdir -p build
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k N_plural:1,2 -c i18n: --add-location=file \
	  --sort-by-file --project=customergroup-rpc -o build/messages.pot .
	$(BIN)/pybabel -q update -i build/messages.pot -d customergroup_rpc/locale \
	  -D customergroup_rpc --ignore-obsolete

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

# The PostgreSQL tests and make serve-pg run a cluster of their own on Debian's PostgreSQL server
# (pg_trgm is in its contrib). As root, install it when it is missing; otherwise say so: those
# tests skip, everything else runs.
PG_FOUND = ls /usr/lib/postgresql/*/bin/initdb /usr/share/postgresql/*/extension/pg_trgm.control
postgres:
	@$(PG_FOUND) >/dev/null 2>&1 || if [ "$$(id -u)" != 0 ]; then \
	  echo "PostgreSQL server not found and not root: the PostgreSQL tests will be skipped and make serve-pg cannot run; install Debian's postgresql and postgresql-contrib"; \
	elif ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-contrib; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-contrib; fi

# HTTP figures against baselines of the same run (bench/figures.py); wrk comes from Debian,
# the PostgreSQL figures run on a throwaway cluster of Debian's PostgreSQL (as the tests).
bench: $(VENV)/.run postgres
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
