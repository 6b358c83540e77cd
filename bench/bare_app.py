"""The baseline of the web benchmarks: a bare Flask endpoint returning a short string.

Served exactly like the product (`gunicorn bench.bare_app:app`, same workers, same wrk settings), so
every product figure in `bench/web_bench.py` is a ratio against what this machine can do at all.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "ok"
