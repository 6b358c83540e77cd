"""*Terminate* through the API: the console's rules (services/impersonation/live_sessions.py), with
the API key as the actor.

Why the key and not the admin who created it: the admin did not make this call and may not know of
it; the trail must say what happened, and a key is a principal of its own (scoped, revocable). The
key's label in the trail names its creator, so the person answerable for the key is one click away.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from impersonator.extensions import db
from impersonator.models import ApiKey, Impersonation
from impersonator.services.api import keys
from impersonator.services.api.queries import impersonation_json
from impersonator.services.impersonation import lifecycle
from impersonator.services.impersonation.live_sessions import NOTE_MAX_CHARS, ImpersonationNotFound
from impersonator.services.validation import clean_text


def terminate(
    impersonation_id: int, *, reason: Any, api_key: ApiKey, ip: str | None, now: datetime
) -> dict[str, Any]:
    """End a live impersonation for the security team (end reason `security_terminated`, the reason
    kept as its end note); `terminated` is False when it had already ended (nothing changes then)."""
    if reason is not None and not isinstance(reason, str):
        reason = None  # a number or a list is no sentence: refused as missing
    note = clean_text(reason, "Reason", max_length=NOTE_MAX_CHARS)
    imp = db.session.get(Impersonation, impersonation_id)
    if imp is None:
        raise ImpersonationNotFound()
    ended = False
    if imp.state(now) in ("issued", "active"):
        ended = lifecycle.end(
            impersonation_id,
            reason="security_terminated",
            actor=keys.key_actor(api_key),
            ip=ip,
            now=now,
            note=note,
        )
        db.session.refresh(imp)
    return {"terminated": ended, "impersonation": impersonation_json(imp, now)}
