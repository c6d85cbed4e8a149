# MediDash: `make demo` and `make test` are the whole quick start.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
export DO_NOT_TRACK := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install system-deps test test-reliability lint bench demo lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml scripts/check_system.sh
	@bash scripts/check_system.sh runtime
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@$(BIN)/uv pip sync --python $(BIN)/python --quiet requirements.lock
	@$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	@$(BIN)/python -m spark_jobs.jvm >/dev/null  # MediDash's JVM code, built once per version
	@touch $(STAMP)

# Packages the test suite needs from the OS (browser, compose validator, JDBC jar).
system-deps:
	@bash scripts/check_system.sh test

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	eval "$$($(BIN)/python -m medidash.orchestration.dbt_env)" && cd dbt_project && ../$(BIN)/sqlfluff lint models tests macros analyses
	$(BIN)/detect-secrets-hook --baseline .secrets.baseline $$(git ls-files | grep -v -e '^requirements.lock$$' -e '^.secrets.baseline$$')

test: install system-deps lint
	$(BIN)/python -m pytest -ra --durations=20 tests

test-reliability: install system-deps
	$(BIN)/python -m pytest -ra --durations=30 -m slow --run-slow tests

bench: install
	$(BIN)/medidash bench --scale $${BENCH_SCALE:-0.1} --generator-scale $${BENCH_GENERATOR_SCALE:-1}

demo: install
	$(BIN)/medidash demo

clean:
	rm -rf .medidash bench/results/*.json bench/results/*.md dbt_project/target
