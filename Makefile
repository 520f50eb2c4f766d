# genforge — two commands: `make run` (the pipeline on the embedded default) and
# `make test` (lint + the whole suite). Both set up .venv first, idempotently:
# the stamp is rebuilt only when pyproject.toml changes or the venv is missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.genforge-installed
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint format setup clean report-full

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (genforge needs Python 3.11)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: pip takes these wheels from local disk; an unpinned torch
	# would download a different multi-GB build.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m flows.retrain

# The report's studies (tables 6 and 7) at a bigger budget than make run's, and the
# diffusion sweep with its 1000-step ancestral row: a DVC experiment that sets
# report.study_steps, report.study_samples and report.diffusion_sweep in params.yaml
# (they stay set; reset them to 300, 250 and [10, 25, 50, 100] to go back).
report-full: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc exp run \
		--set-param report.study_steps=1000 --set-param report.study_samples=1000 \
		--set-param 'report.diffusion_sweep=[10,25,50,100,ancestral]' report

lint: $(STAMP)
	$(BIN)/ruff check src tests flows benchmarks
	$(BIN)/ruff format --check src tests flows benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix src tests flows benchmarks
	$(BIN)/ruff format src tests flows benchmarks

# The suite's files on as many workers as there are (logical) cores, at most 4: most of its time
# is servers and subprocesses starting, and a 2-core machine runs it in about 0.6x the
# time of one worker. `pytest tests/...` alone runs in one process.
test: lint
	$(BIN)/python -m pytest -n logical --maxprocesses 4 --dist loadfile

clean:
	rm -rf data/raw data/prepared models metrics plots evals reports studies gate mlruns mlartifacts mlflow.db .pytest_cache
