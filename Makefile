# zspace: `make run` (the demo pipeline on synthetic faces, CPU) and `make test`.
# Each target creates .venv and installs the project on first use; `make test` also installs
# Debian's chromium and chromium-driver for the browser tests (apt-get, as root) if missing.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.zspace-installed
STORE ?= zspace-store
EXTRAS ?= dev,jax
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check --no-warn-script-location
PIP_LOG := $(VENV)/pip.log
PIP_QUIET := >>$(PIP_LOG) 2>&1 || { cat $(PIP_LOG); exit 1; }

.PHONY: run test lint bench install browser clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing zspace and its dependencies into $(VENV) (first run only, ~2 min)..."
	@$(PIP) --upgrade pip $(PIP_QUIET)
	@$(PIP) -e ".[$(EXTRAS)]" $(PIP_QUIET)
	@$(BIN)/python -c "import zspace.flows.cli, tensorflow, prefect, zarr" 2>/dev/null \
		|| (echo "install failed: run '$(BIN)/pip install -e .[$(EXTRAS)]' to see why"; exit 1)
	@touch $(STAMP)

install: $(STAMP)

# Headless Chromium and its driver for the explorer and Prefect UI tests (Debian packages).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "Installing Debian's chromium and chromium-driver for the browser tests..."; \
		apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

run: $(STAMP)
	@$(BIN)/zspace run --preset demo --store $(STORE)

lint: $(STAMP)
	@$(BIN)/ruff check .

test: $(STAMP) lint browser
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(STORE) .pytest_cache .ruff_cache
