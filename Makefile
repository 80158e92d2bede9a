# Pledge: the two commands a new machine needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= leman-jewelry
ADDR ?= 127.0.0.1
PORT ?= 8000

.PHONY: help demo test test-sqlite test-postgresql lint format bench messages install install-dev clean

help:
	@echo "make demo [PRESET=leman-jewelry]  set up and serve a demo shop on http://$(ADDR):$(PORT)"
	@echo "make test                         install what the tests need and run them all"
	@echo "make lint                         ruff and mypy"
	@echo "make bench                        benchmarks (bench/), figures in docs/benchmarks.md"
	@echo "make messages                     refresh and compile the vi/en translations"

$(VENV)/.base: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required (python3.11 or python3 on PATH)"; exit 1; }
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.demo: $(VENV)/.base
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.base
install-dev: $(VENV)/.dev

demo: $(VENV)/.demo
	$(BIN)/pledge demo --preset $(PRESET) --addr $(ADDR) --port $(PORT)

test: $(VENV)/.dev
	scripts/ensure-system-deps.sh
	$(MAKE) test-sqlite test-postgresql

# The whole suite, browser tests included, on the embedded default.
test-sqlite: $(VENV)/.dev
	PLEDGE_VAR_DIR=$$(mktemp -d) PLEDGE_TEST_DB=sqlite $(BIN)/pytest

# The whole suite again on a real PostgreSQL server that the tests start; the browser tests
# exercise pages, not the database, so they run once (above).
test-postgresql: $(VENV)/.dev
	PLEDGE_VAR_DIR=$$(mktemp -d) PLEDGE_TEST_DB=postgresql $(BIN)/pytest -m "not browser"

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(VENV)/.dev
	@if ls bench/bench_*.py >/dev/null 2>&1; then \
	  for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done; \
	else echo "no benchmarks yet"; fi

# Translations: .po files are edited by people; the compiled .mo files are committed so that an
# install needs no gettext tools. tests/test_translations.py checks they are in step.
messages: $(VENV)/.dev
	cd src/pledge && ../../$(BIN)/pledge makemessages -l vi -l en --no-obsolete --add-location file
	cd src/pledge && ../../$(BIN)/pledge compilemessages

clean:
	rm -rf $(VENV) var tests/artifacts .pytest_cache .mypy_cache .ruff_cache
