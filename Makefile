# The README's commands. `make demo` runs the main job, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= var/demo
HOUSEHOLDS ?= 10000
HOST ?= 127.0.0.1
PORT ?= 8000
export SOLIDARITY_DATABASE_URL ?= sqlite:///$(CURDIR)/$(DEMO_DIR)/solidarity.db

.PHONY: demo test lint typecheck bench install install-dev clean audit fuzz screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

demo: install
	mkdir -p $(DEMO_DIR)
	$(BIN)/solidarity demo --households $(HOUSEHOLDS) --dir $(DEMO_DIR) --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install-dev
	$(BIN)/mypy

test: install-dev lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The browser tests, photographing every main page into docs/screenshots.
screenshots: install-dev
	SOLIDARITY_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

# Known vulnerabilities in the installed packages fail; an unreachable advisory
# service only warns (SOLIDARITY_AUDIT_STRICT=1 makes it fail too).
audit: install-dev
	$(BIN)/python .ci/dependency_audit.py

bench: install-dev
	$(BIN)/python benchmarks/import.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

# A longer property-based fuzzing run of the REST API and DCI endpoints (FUZZ_EXAMPLES per operation).
FUZZ_EXAMPLES ?= 200
fuzz: install-dev
	SOLIDARITY_FUZZ_MAX_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider tests/reliability/test_fuzz_api.py
