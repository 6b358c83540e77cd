# Two commands do everything: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
export IMPERSONATOR_ENV ?= development

.PHONY: run serve postgres postgres-stop codes test fuzz lint format bench system-deps clean lock loadtest

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

# Production on this machine: `flask db upgrade` on DATABASE_URL (PostgreSQL), then gunicorn
# (gunicorn.conf.py) and the outbox worker side by side; IMPERSONATOR_ENV is production whatever is
# exported above. tests/shipped/ starts it with this same launcher. Ctrl-C stops both.
SERVE_BIND ?= 127.0.0.1:8000
serve: $(VENV)/.installed
	@$(PY) scripts/launch.py serve --bind $(SERVE_BIND)

# A throwaway PostgreSQL in instance/postgres/ for trying `make serve`; prints the DATABASE_URL to
# export. `make postgres-stop` stops it and deletes its data.
postgres:
	@python3 scripts/local_postgres.py start
postgres-stop:
	@python3 scripts/local_postgres.py stop

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
# Four processes side by side: per database, one for the forms (a third of the inputs and half the
# time) and one for the other targets, so both cores stay busy until the end. Each one's output goes
# to its log in FUZZ_OUT, with a line a minute; its tally is saved there each minute too
# (`python -m tests.fuzz.report FUZZ_OUT/*.json` reads a run while it goes), and the table at the end
# adds them up. `IMPERSONATOR_FUZZ_EXAMPLES=N make fuzz`: a sample of N inputs in all. Ctrl-C stops
# them all (passed on as SIGTERM: background jobs ignore SIGINT) and still prints the table of what ran.
FUZZ_OUT ?= $(or $(TMPDIR),/tmp)/impersonator-fuzz
FUZZ_PARTS = forms:every_form other:'not every_form'
fuzz: $(VENV)/.installed system-deps
	@rm -rf "$(FUZZ_OUT)" && mkdir -p "$(FUZZ_OUT)"
	@echo "fuzzing SQLite and PostgreSQL side by side; progress in $(FUZZ_OUT)/*.log"
	@start=$$(date +%s); status=0; stopped=0; pids=""; \
	trap 'stopped=1; kill -TERM $$pids 2>/dev/null' INT TERM; \
	for database in sqlite postgresql; do \
	  for part in $(FUZZ_PARTS); do \
	    name=$$database-$${part%%:*}; \
	    IMPERSONATOR_FUZZ_PROFILE=long IMPERSONATOR_FUZZ_STATS="$(FUZZ_OUT)/$$name.json" \
	      $(PY) -m pytest tests/fuzz -p no:cacheprovider -k "$$database and $${part#*:}" \
	      >"$(FUZZ_OUT)/$$name.log" 2>&1 & \
	    pids="$$pids $$!"; \
	  done; \
	done; \
	for pid in $$pids; do \
	  until wait $$pid; rc=$$?; [ $$rc -le 128 ] || ! kill -0 $$pid 2>/dev/null; do :; done; \
	  [ $$rc -eq 0 ] || status=1; \
	done; \
	for log in "$(FUZZ_OUT)"/*.log; do echo "== $$(basename "$$log" .log): $$(tail -n 1 "$$log")"; done; \
	$(PY) -m tests.fuzz.report --wall $$(( $$(date +%s) - start )) "$(FUZZ_OUT)"/*.json || status=1; \
	if [ $$stopped -eq 1 ]; then echo "make fuzz: stopped by hand; the table counts the inputs sent until then"; \
	elif [ $$status -ne 0 ]; then echo "make fuzz: a finding or an error; see $(FUZZ_OUT)/*.log"; fi; \
	exit $$(( status | stopped ))

# Benchmarks (not CI): each prints a table and appends a dated section to bench/RESULTS.md. All three
# run even when one misses a target; the target fails if any missed one or saw an unexpected status.
bench: $(VENV)/.installed system-deps
	@command -v wrk >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	status=0; \
	$(PY) -m bench.web_bench || status=1; \
	$(PY) -m bench.search_bench --users 1000000 || status=1; \
	$(PY) -m bench.audit_bench --events 1000000 || status=1; \
	exit $$status

# The load and fault test (not CI; tests/shipped/test_loadtest.py runs a 10 s version): a throwaway
# PostgreSQL, gunicorn (4 workers), two outbox workers and a webhook receiver on 127.0.0.1, many
# simulated staff, customers and attackers for 60 s while a worker, PostgreSQL, the receiver and an
# outbox worker fail; prints a table and its checks, exits 1 if any fails. `make loadtest
# LOADTEST_ARGS="--seconds 120 --clients 100"` changes the run; `--faults none` runs it without faults.
LOADTEST_ARGS ?=
loadtest: $(VENV)/.installed system-deps
	@$(PY) scripts/loadtest.py $(LOADTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) instance/*.sqlite3* test-artifacts .pytest_cache
