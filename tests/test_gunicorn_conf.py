"""gunicorn.conf.py keeps query strings (search terms, tokens) out of gunicorn's error log too."""

from __future__ import annotations

import runpy
from pathlib import Path

CONF = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))


def test_a_uri_in_an_error_line_loses_its_query_string():
    without_queries = CONF["without_queries"]

    assert without_queries(("/search?q=alice@acme.example",)) == ("/search?…",)
    assert without_queries(("/impersonation/redeem?token=abc.def", 3)) == ("/impersonation/redeem?…", 3)
    assert without_queries(("/audit/", "plain text? yes")) == ("/audit/", "plain text? yes")
