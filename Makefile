# zspace: `make run` (the demo pipeline on synthetic faces, CPU) and `make test`.
# Each target creates .venv and installs the project on first use, at the exact versions of
# requirements.lock (the versions the suite passed with); `make test` also installs Debian's
# chromium and chromium-driver for the browser tests (apt-get, as root) if missing.
# `make lock` resolves pyproject.toml's ranges afresh in a scratch venv, writes the lock, and
# runs the whole suite on it.
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

LOCK := requirements.lock

.PHONY: run test test-fast lint bench install browser clean lock

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing zspace and its dependencies into $(VENV) from $(LOCK) (first run only, ~2 min)..."
	@$(PIP) --upgrade pip $(PIP_QUIET)
	@$(PIP) -r $(LOCK) $(PIP_QUIET)
	@$(PIP) --no-deps -e ".[$(EXTRAS)]" $(PIP_QUIET)
	@$(BIN)/python -m pip check >>$(PIP_LOG) 2>&1 || { tail -5 $(PIP_LOG); echo "$(LOCK) does not satisfy pyproject.toml: run 'make lock'"; exit 1; }
	@$(BIN)/python -c "import zspace.cli.main, tensorflow, prefect, zarr" 2>/dev/null \
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

# The quick inner loop: everything but the slow, browser and real-server tests.
test-fast: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "not slow and not browser and not server"

# Resolve the dependency ranges afresh, pin what pip chose, and prove it with the whole suite.
lock:
	@rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	@.venv-lock/bin/python -m pip install -q --upgrade pip
	@.venv-lock/bin/python -m pip install -q ".[$(EXTRAS)]"
	@.venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^zspace' > $(LOCK)
	@rm -rf .venv-lock $(VENV)
	@echo "$(LOCK): $$(wc -l < $(LOCK)) pins; running the suite on them"
	@$(MAKE) test

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(STORE) .pytest_cache .ruff_cache .venv-lock
