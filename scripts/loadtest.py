"""`make loadtest`: the production shape (`make serve`'s gunicorn with gunicorn.conf.py, two outbox
workers, PostgreSQL) under many simulated people and four faults, then checks that nothing was lost.

It starts a throwaway PostgreSQL on 127.0.0.1, migrates and seeds it, starts gunicorn (4 sync
workers), two `flask outbox work` processes and a local webhook receiver subscribed to every event,
then for `--seconds` (default 60) runs staff doing the whole flow (sign in, search, request with a
TOTP code and an access code where needed, redeem, browse as the ghost, End), customers (projects,
codes, consent, revoke) and attackers (replays, forged tokens, guessed codes). Meanwhile, unless
`--faults` says otherwise: kill -9 of a gunicorn worker, a PostgreSQL crash and restart (~5 s), the
receiver down for 20 s, an outbox worker killed mid-delivery. Then it drains the outbox, sweeps,
verifies the audit chain and prints a table and its CHECKS; any failed check exits 1. Everything it
started is stopped at the end, on failure and on Ctrl-C too. The parts are in scripts/loadtest/.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The checkout's root, so that `impersonator` and the parts in scripts/loadtest/ import from here.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.loadtest.main import main

if __name__ == "__main__":
    sys.exit(main())
