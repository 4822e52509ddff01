# One command surface for people and CI. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install demo services services-down test test-unit test-integration lint schemas bench soak fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed ## create .venv and install Crossview with its pinned dependencies

demo: install ## run Crossview on the embedded default with demo data (no Kafka, no PostgreSQL)
	$(VENV)/bin/crossview demo --port $(PORT)

services: ## start real Kafka (KRaft) and PostgreSQL on 127.0.0.1 (fetches and installs them if needed)
	bash scripts/services.sh up

services-down: ## stop the services that `make services` started
	bash scripts/services.sh down

lint: install ## ruff, import-linter layer contracts, schema drift and compatibility
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/crossview schemas check

test-unit: install ## unit tests only (no services)
	$(PY) -m pytest tests/unit -q

test: install ## everything: lint, then unit + integration + e2e on real Kafka and PostgreSQL
	$(MAKE) --no-print-directory lint
	bash scripts/with-services.sh $(PY) -m pytest -q

FUZZ_SCALE ?= 20
fuzz: install ## the edge fuzz and the parsers' mutations, FUZZ_SCALE times the suite's counts (no services)
	CROSSVIEW_FUZZ_SCALE=$(FUZZ_SCALE) $(PY) -m pytest -q tests/unit/test_edge_fuzz.py tests/unit/test_parsers_mutated.py

bench: install ## every benchmark on the real broker and database -> bench/results/*.json
	bash scripts/with-services.sh $(PY) -m bench

SOAK_CYCLES ?= 50
soak: install ## SOAK_CYCLES SIGKILLs of projectors and relay under load, then views vs the pure fold -> bench/results/soak.json
	SOAK_CYCLES=$(SOAK_CYCLES) bash scripts/with-services.sh $(PY) -m bench soak

schemas: install ## regenerate schemas/json from the models
	$(VENV)/bin/crossview schemas generate

clean: services-down ## stop services and delete local state (.services, .venv)
	rm -rf .services $(VENV)
