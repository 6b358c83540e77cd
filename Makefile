# Two commands do everything: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
export IMPERSONATOR_ENV ?= development

.PHONY: run codes test fuzz lint format bench system-deps clean lock

# Installs the hashed lock (every package, runtime and dev), then the project itself, editable and
# without dependencies, so that its entry points (pyproject.toml) are registered. Depends on the locks,
# not on the .in files: an edited .in changes nothing installed until `make lock` re-locks it.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Regenerates the hashed locks from requirements.in and requirements-dev.in (not CI): after editing a
# .in, run this and commit the .in and .txt files together. The dev lock is constrained to the runtime
# lock, so it is made second. Versions already locked are kept unless a .in asks for another.
PIP_COMPILE := $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links
lock: $(VENV)/.installed
	$(PIP_COMPILE) --output-file=requirements.txt requirements.in
	$(PIP_COMPILE) --output-file=requirements-dev.txt requirements-dev.in

# Migrate, seed, then the web server and the outbox worker side by side (mail lands in
# instance/mail/). tests/shipped/ starts the product with this same launcher.
run: $(VENV)/.installed
	@$(PY) scripts/launch.py dev

# Each demo staff member's TOTP code, now and next (development only).
codes: $(VENV)/.installed
	@$(FLASK) demo-codes

# PostgreSQL server binaries and Debian's Chromium: installed with apt-get when missing and root.
system-deps:
	@bash scripts/system-deps.sh

test: $(VENV)/.installed system-deps
	$(PY) -m pytest

# The long fuzz run (not CI): 10⁶ Hypothesis inputs over both databases, then inputs per
# target and throughput. `make test` runs the same tests with a bounded, repeatable number of inputs.
fuzz: $(VENV)/.installed system-deps
	IMPERSONATOR_FUZZ_PROFILE=long $(PY) -m pytest tests/fuzz -p no:cacheprovider

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
