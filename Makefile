# Two commands do everything: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
export IMPERSONATOR_ENV ?= development

.PHONY: run test lint format bench system-deps clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	mkdir -p instance
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@# The outbox worker runs beside the web server and stops with it (mail lands in instance/mail/).
	@$(FLASK) outbox work & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
		$(FLASK) run --host 127.0.0.1 --port 5000

# PostgreSQL server binaries and Debian's Chromium: installed with apt-get when missing and root.
system-deps:
	@bash scripts/system-deps.sh

test: $(VENV)/.installed system-deps
	$(PY) -m pytest

# Benchmarks (not CI): each prints a table and appends a dated section to bench/RESULTS.md.
bench: $(VENV)/.installed system-deps
	@command -v wrk >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(PY) -m bench.web_bench
	$(PY) -m bench.search_bench --users 1000000
	$(PY) -m bench.audit_bench --events 1000000

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) instance/*.sqlite3* test-artifacts .pytest_cache
