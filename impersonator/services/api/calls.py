"""Each API call: counted against API_RATE_LIMIT and written to the audit trail (who = the key,
what = method and endpoint, result = status and error code). Keys never reach the trail or a log:
a refused call names at most the key id the caller claimed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from impersonator.extensions import db, drop_leftovers
from impersonator.models import ApiKey
from impersonator.services import audit, rate_limits
from impersonator.services.api.keys import key_actor
from impersonator.services.audit import Actor


def subject(api_key: ApiKey | None, ip: str | None) -> rate_limits.Subject:
    """Whom a call is counted against: its key, or (no valid key) the client's address."""
    if api_key is None:
        return rate_limits.client_address(ip)
    return rate_limits.Subject(f"api_key:{api_key.id}", key_actor(api_key), ip)


def count(api_key: ApiKey | None, *, ip: str | None, now: datetime) -> None:
    """Count the call; RateLimited (429) when the key, or the address of a keyless caller, is over."""
    rate_limits.check("api", subject(api_key, ip), now=now)


def audit_call(
    api_key: ApiKey | None,
    *,
    claimed_key_id: int | None,
    method: str,
    endpoint: str | None,
    path: str,
    status: int,
    error: str | None,
    ip: str | None,
    now: datetime,
) -> None:
    """Audit one call and, for a key, when it was last used; committed here, and only that (the
    view's writes were committed with their own events, or refused and are dropped)."""
    drop_leftovers()
    if api_key is not None:
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == api_key.id)
            .values(last_used_at=now, last_used_ip=ip)
            .execution_options(synchronize_session=False)
        )
    details: dict[str, object] = {
        "method": method,
        "endpoint": endpoint,
        "path": path[:300],
        "status": status,
    }
    if error:
        details["error"] = error
    if api_key is None and claimed_key_id is not None:
        details["claimed_key_id"] = claimed_key_id
    audit.record(
        "api.request",
        actor=key_actor(api_key)
        if api_key is not None
        else Actor.anonymous("API caller without a valid key"),
        at=now,
        ip=ip,
        outcome="success" if status < 400 else ("denied" if status in (401, 403) else "failure"),
        details=details,
    )
    db.session.commit()
