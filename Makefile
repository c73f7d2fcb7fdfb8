# eventlake: `make demo` runs the main job, `make test` passes the tests.
# A fresh machine needs only python3, pip, cargo and make.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help setup demo test test-rust test-python bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
	  (echo "installing uv with pip..." && python3 -m pip install --user --quiet uv)

setup: uv ## create .venv and build the Rust extension (release)
	$(UV) sync --frozen
	$(PY) -m compileall -q platform benchmarks  # our own modules too: nothing writes .pyc where PYTHONDONTWRITEBYTECODE is set

demo: setup ## start the whole local stack, ingest sample data, keep serving until Ctrl-C
	$(VENV)/bin/eventlake demo

test: setup ## run every test: cargo test for the Rust core, then pytest
	cd rust_ext && cargo test --release --workspace
	$(VENV)/bin/pytest

# The processor comparison lives in benchmarks/ (dev dependency group), not in the eventlake package, and
# `eventlake bench processor` only points here. `make bench BENCH_ARGS=--quick` for a smoke run.
# The load generators stay in the package: `eventlake bench ingest`, `eventlake bench pipeline`.
bench: setup ## compare the Rust processor with pure Python, polars, DuckDB, pyarrow (benchmarks/)
	$(PY) -m benchmarks.processor $(BENCH_ARGS)

clean: ## delete local state and build output
	rm -rf .eventlake rust_ext/target $(VENV)
