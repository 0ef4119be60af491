# The two commands: `make run` starts the app on this machine, `make test` runs every test.
# Both create .venv and install requirements.txt the first time.

SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench setup screenshots

$(PYTHON):
	python3 -m venv $(VENV)

$(VENV)/.requirements-installed: requirements.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

setup: $(VENV)/.requirements-installed

# Laptop defaults: DEBUG on, SQLite and uploads under var/ (DATA_DIR), jobs in-process.
# With REDIS_URL set, a Celery worker for the inversion queue runs beside the web server.
run: setup
	@set -euo pipefail; \
	export DEBUG="$${DEBUG:-1}"; \
	$(PYTHON) manage.py migrate --no-input --verbosity 0; \
	$(PYTHON) manage.py seed_demo --if-empty; \
	if [ -n "$${REDIS_URL:-}" ]; then \
		$(VENV)/bin/celery -A forensics worker -Q inversion --loglevel INFO & worker=$$!; \
		trap 'kill $$worker 2>/dev/null || true' EXIT INT TERM; \
		echo "Celery worker started (queue: inversion, broker: REDIS_URL)."; \
	fi; \
	echo; echo "Open http://$(HOST):$(PORT)/ and log in with one of the demo users above. Ctrl-C stops."; echo; \
	$(PYTHON) manage.py runserver $(HOST):$(PORT)

# SQLite by default; PostgreSQL when DATABASE_URL is set (CI sets it).
test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Retakes the README's screenshots (docs/screenshots/) with the browser tests.
screenshots: setup
	SCREENSHOTS_DIR=docs/screenshots $(VENV)/bin/pytest tests/test_browser.py

# ruff, and the import boundaries between the apps and the ML package (pyproject.toml [tool.importlinter]).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench: setup
	@shopt -s nullglob; scripts=(benchmarks/*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "No benchmarks yet (benchmarks/*.py)."; fi; \
	for script in "$${scripts[@]}"; do echo "== $$script"; PYTHONPATH=. $(PYTHON) "$$script" || exit 1; done
