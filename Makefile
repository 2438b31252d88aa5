# The README's two commands: `make run` (the monitor) and `make test` (the test suite).
# Each creates the virtual environment .venv on first use.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run check test bench bench-web lint

run: $(VENV)/.installed
	$(BIN)/ctmonitor run --now

check: $(VENV)/.installed
	$(BIN)/ctmonitor check

# The suite on SQLite, then again on a PostgreSQL test cluster (the tests that touch a store).
test: lint
	$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -q --store-backend postgresql

bench: $(VENV)/.installed-test
	$(BIN)/python bench/check_bench.py

bench-web: $(VENV)/.installed-test
	$(BIN)/python bench/web_bench.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy monitor snapshots notifiers tests bench

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $(VENV)/.installed $@
