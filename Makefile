# 发票台 Fapiao Desk. `make run` serves the demo; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help run test bench lint typecheck system-deps venv dev-venv migrate seed check messages clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## install what the product needs from Debian (fonts, HarfBuzz subsetting)
	@scripts/system_deps.sh

$(BIN)/.runtime-installed: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(BIN)/.dev-installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(BIN)/.runtime-installed

venv: $(BIN)/.runtime-installed
dev-venv: $(BIN)/.dev-installed

migrate: venv
	DEBUG=1 $(BIN)/python manage.py migrate --noinput

seed: migrate ## create the demo world (idempotent)
	DEBUG=1 $(BIN)/python manage.py seed_demo

run: system-deps venv seed ## install, migrate, seed and serve the admin with a Celery worker and beat
	@HOST=$(HOST) PORT=$(PORT) scripts/run_dev.sh

# The suite runs in parallel (pytest-xdist): one worker per core by default, TEST_WORKERS=N for N workers,
# TEST_WORKERS=0 for one process. Each worker has its own test database (test_<name>_gw0, …) and var/ folder. The
# tests of one file stay on one worker, so a file's module fixtures (a migrated var/, a generated client) are built
# once; the browser and the live server are built once per worker.
TEST_WORKERS ?= auto
test: system-deps dev-venv ## the whole test suite, in parallel (TEST_WORKERS=0: one process)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

check: dev-venv ## Django checks, migrations check, lint (ruff, mypy)
	DEBUG=1 $(BIN)/python manage.py check
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	DEBUG=1 $(BIN)/mypy
	$(BIN)/lint-imports

lint: dev-venv ## ruff, mypy (strict on invoicing/, receiving/, deduction/; [tool.mypy]) and the import contracts ([tool.importlinter])
	$(BIN)/ruff check .
	DEBUG=1 $(BIN)/mypy
	$(BIN)/lint-imports

typecheck: dev-venv ## mypy alone
	DEBUG=1 $(BIN)/mypy

bench: system-deps dev-venv ## benchmarks, each printing ratios against a baseline from the same run
	@missed=""; for b in bench/bench_*.py; do echo "== $$b"; DEBUG=1 $(BIN)/python $$b || missed="$$missed $$b"; done; \
	if [ -n "$$missed" ]; then echo "== goals missed or errors in:$$missed"; exit 1; fi

# Translations: the .po under locale/ and its compiled .mo are both committed, so a fresh machine needs no gettext
# tools to serve English. Maintainers with gettext installed (Debian: apt-get install gettext) run `make messages`
# after changing translatable strings, fill in the new msgstr in locale/en/LC_MESSAGES/django.po, then run it again
# to recompile; tests/kernel/test_i18n.py fails while an entry is empty or fuzzy or the .mo is stale.
MESSAGES_IGNORE := --ignore=.venv --ignore=var --ignore=tests --ignore=bench --ignore=scripts --ignore=docs --ignore=node_modules

messages: dev-venv ## update locale/en from the source (makemessages) and compile it (needs gettext)
	DEBUG=1 $(BIN)/python manage.py makemessages -l en --no-location $(MESSAGES_IGNORE)
	DEBUG=1 $(BIN)/python manage.py compilemessages -l en $(MESSAGES_IGNORE)

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) var
