#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries and Debian's Chromium are present for the tests.
# As root, missing ones are installed with apt-get; otherwise we say what is missing and the tests
# skip what needs it (under CI=true the tests fail instead: CI never skips a real part).
set -euo pipefail

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null; }
have_chromium() { [ -x /usr/bin/chromium ]; }

missing=()
have_postgres || missing+=(postgresql postgresql-contrib)
have_chromium || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "system-deps: installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "system-deps: missing ${missing[*]}; install them (sudo apt-get install ${missing[*]})" \
       "or the PostgreSQL and browser tests will be skipped" >&2
fi
