# evcap entry points. `make demo` and `make test` do all the set-up themselves.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.evcap-installed
SQL_DIRS := models macros tests

.PHONY: help install demo test test-deps test-deps-postgis pytest lint format bench docs clean citus citus-stop test-citus

help:
	@echo "make demo   - install, start the embedded PostgreSQL, load a synthetic grid, dbt build, fit, report"
	@echo "make test   - install what the tests need, then every test and lint"
	@echo "make lint   - sqlfluff (dbt models), ruff, mypy"
	@echo "make bench  - benchmarks; ratios printed and written to bench/results/"
	@echo "make docs   - dbt docs generate (lineage, column docs)"
	@echo "make citus  - build Citus once (CITUS_TARBALL=...), start a coordinator + 2 workers under .evcap/citus"
	@echo "make test-citus - the demo grid and a real grid on the Citus cluster against single-node builds (needs make citus)"
	@echo "make citus-stop - stop the local Citus cluster"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/evcap demo

# Headless Chromium for the report's browser test and PostGIS for the system
# PostgreSQL 15 (the EDM stand-in then stores real geometry); Debian packages.
test-deps: test-deps-postgis
test-deps-postgis:
	@if ! psql -h 127.0.0.1 -U postgres -Atc "select 1 from pg_available_extensions where name = 'postgis'" 2>/dev/null | grep -q 1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing postgresql-15-postgis-3 for the system PostgreSQL"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-postgis-3 >/dev/null; \
	  else \
	    echo "PostGIS not available and cannot install it: the stand-in stores geometry as text"; \
	  fi; \
	fi

test-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium not found and cannot install it: browser tests will be skipped"; \
	  fi; \
	fi

pytest: install test-deps
	@set +e; $(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	exit $$rc

test: pytest lint

lint: install
	$(BIN)/ruff check analysis_py bench
	$(BIN)/ruff format --check analysis_py bench
	$(BIN)/mypy
	@# a schema no build writes: models lint the same whatever the database holds
	source <($(BIN)/evcap env --schema evcap_sqlfluff_lint) && $(BIN)/sqlfluff lint $(SQL_DIRS)

format: install
	$(BIN)/ruff format analysis_py bench
	$(BIN)/ruff check --fix analysis_py bench

bench: install
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

docs: install
	$(BIN)/evcap dbt docs generate
	@echo "docs: target/index.html (serve with: .venv/bin/evcap dbt docs serve)"

# Local Citus cluster (analysis_py/evcap/citus_cluster.py): build once, start
# (idempotent), stop. The Citus tests are excluded from `make test`.
citus: install
	$(BIN)/python -m evcap.citus_cluster up

citus-stop: install
	$(BIN)/python -m evcap.citus_cluster stop

test-citus: install
	EVCAP_REQUIRE_CITUS=1 $(BIN)/pytest -m citus analysis_py/tests/test_citus.py $(PYTEST_ARGS)

clean:
	rm -rf target logs out test-artifacts bench/results .pytest_cache .mypy_cache .ruff_cache
