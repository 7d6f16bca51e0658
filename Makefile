# zspace: `make run` (the demo pipeline on synthetic faces, CPU) and `make test`.
# Each target creates .venv and installs the project on first use.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.zspace-installed
STORE ?= zspace-store
PIP_QUIET := 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: run test lint bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing zspace and its dependencies into $(VENV) (first run only, ~2 min)..."
	@$(BIN)/python -m pip install -q --upgrade pip $(PIP_QUIET)
	@$(BIN)/python -m pip install -q -e ".[dev]" $(PIP_QUIET)
	@$(BIN)/python -c "import zspace.flows.cli, tensorflow, prefect, zarr" || (echo "install failed"; exit 1)
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/zspace run --preset demo --store $(STORE)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(STORE) .pytest_cache .ruff_cache
