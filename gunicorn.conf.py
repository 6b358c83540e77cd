"""gunicorn's settings for production (`make serve`: scripts/launch.py serve). gunicorn reads this file
by itself when started in the checkout (`gunicorn app:app`); elsewhere, `gunicorn -c gunicorn.conf.py`.

Sync workers (MEASURED.md: gthread's keep-alive gave bimodal throughput here), as many as the
machine's CPUs can keep busy while others wait on PostgreSQL, recycled now and then, and an access
log of one JSON object per line that never holds a query string: a token pasted into an address or
a search for a customer's email must not reach any log.

The app's own settings come from config.py; only the server's are read here.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from gunicorn.glogging import Logger


def _whole_number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"gunicorn.conf.py: {name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def _cpus() -> int:
    """The CPUs this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# The usual rule: while one worker waits on the database another computes.
workers = _whole_number("WEB_CONCURRENCY", 2 * _cpus() + 1)
worker_class = "sync"
# A request silent for this long is stuck (pages take milliseconds): its worker is replaced.
timeout = 30
# On SIGTERM or a reload (HUP), requests in flight get this long to finish.
graceful_timeout = 30
keepalive = 5
# Recycle each worker after this many requests, staggered by the jitter so they never restart
# together: a slow leak in any library cannot grow without bound.
max_requests = _whole_number("GUNICORN_MAX_REQUESTS", 10_000)
max_requests_jitter = max_requests // 10

# Who may claim HTTPS or a client address with X-Forwarded-* is the app's decision alone
# (TRUSTED_PROXY_COUNT, werkzeug's ProxyFix): gunicorn trusts no forwarded header itself.
forwarded_allow_ips = ""
# gunicorn >= 25 opens a control socket in $HOME by default; several servers on one machine (tests,
# benchmarks) would share it, and nothing here uses it.
control_socket_disable = True

accesslog = "-"  # stdout, as the app's JSON log lines
errorlog = "-"  # stderr: gunicorn's own start, stop and worker lines
loglevel = "info"


class JsonAccessLogger(Logger):
    """gunicorn's logger, writing each request as one JSON line without its query string (nor the
    Referer, whose query may hold another page's search)."""

    def access(self, resp, req, environ: dict, request_time) -> None:
        if not self.access_log_enabled:
            return
        status = getattr(resp, "status_code", None) or int(str(resp.status).split(None, 1)[0])
        request_id = next((v for k, v in resp.headers if k.lower() == "x-request-id"), None)
        path = environ.get("PATH_INFO", "")
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "info",
            "logger": "gunicorn.access",
            "message": f"{environ.get('REQUEST_METHOD')} {path} {status}",
            "method": environ.get("REQUEST_METHOD"),
            "host": environ.get("HTTP_HOST"),
            "path": path,  # PATH_INFO: never RAW_URI or QUERY_STRING
            "status": status,
            "bytes": getattr(resp, "sent", None),
            "ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": (environ.get("HTTP_USER_AGENT") or "")[:200] or None,
            "request_id": request_id,
            "pid": os.getpid(),
        }
        try:
            self.access_log.info(json.dumps(entry, ensure_ascii=False))
        except Exception:  # a log line must never cost the response
            self.exception("access log line failed")

    # gunicorn's own error lines name the request by its full URI ("Error handling request
    # /search?q=alice@acme.example"): a search term or a token would reach the error log.
    def error(self, msg, *args, **kwargs) -> None:
        super().error(msg, *without_queries(args), **kwargs)

    def exception(self, msg, *args, **kwargs) -> None:
        super().exception(msg, *without_queries(args), **kwargs)


def without_queries(args: tuple) -> tuple:
    """Log arguments with any query string cut off a URI-like text (`/path?q=…` → `/path?…`)."""
    return tuple(
        arg.split("?", 1)[0] + "?…" if isinstance(arg, str) and arg.startswith("/") and "?" in arg else arg
        for arg in args
    )


logger_class = JsonAccessLogger
