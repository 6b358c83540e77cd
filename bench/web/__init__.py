"""The parts of the web benchmark (bench/web_bench.py runs them):

- settings: the run's constants, targets, and the environments of the product and the bare app;
- servers: gunicorn started as production starts it, one-off HTTP requests, worker RSS sampling;
- wrk: runs of wrk and what they counted, the redemption load's Lua script;
- bed: the migrated, seeded database, the session cookies and tokens, in-process SQL counts;
- scenarios: the probe, warm-up, run and probe again of each scenario; the product's in their order;
- report: each scenario's measurement, the tables and the section appended to bench/RESULTS.md.
"""
