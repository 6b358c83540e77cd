"""`make loadtest`: the production shape under load and faults (issue 12). The entry point is
scripts/loadtest.py; `main.py` runs the whole thing, the other modules are its parts:

- processes.py: the throwaway PostgreSQL, gunicorn, the outbox workers, and /proc helpers;
- receiver.py:  the local webhook receiver (down on demand, or holding one delivery mid-way);
- seed.py:      tenants, customers, staff with known TOTP secrets, the webhook endpoint;
- browser.py:   one simulated person's HTTP client (Host headers, cookies, timings);
- people.py:    staff and customers; attackers.py: replays, forged tokens, guessed codes;
- locks.py:     a watcher of PostgreSQL's lock waits during the run;
- faults.py:    the fault schedule and the outage windows;
- checks.py:    the database checks, the table and the verdicts.
"""
