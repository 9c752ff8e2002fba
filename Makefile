# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs only what running needs; `make test` adds the test and lint tools.
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Two pytest workers per core: the end-to-end tests spend about half their time waiting on
# sockets and child processes, so one per core leaves the CPU idle (5 min 11 s against 3 min 27 s
# on 2 cores).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

.PHONY: run test lint bench bench-webchat bench-broadcast migrate check-config clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/python -m bot run

migrate: $(STAMP)
	$(BIN)/python -m bot migrate

check-config: $(STAMP)
	$(BIN)/python -m bot check-config

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.inbound

bench-webchat: $(DEV_STAMP)
	$(BIN)/python -m bench.webchat $(BENCH_ARGS)

bench-broadcast: $(DEV_STAMP)
	$(BIN)/python -m bench.broadcast $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
