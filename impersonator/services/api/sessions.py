"""*Terminate* through the API: the console's rules (services/impersonation/live_sessions.py), with
the API key as the actor.

Why the key and not the admin who created it: the admin did not make this call and may not know of
it; the trail must say what happened, and a key is a principal of its own (scoped, revocable). The
key's label in the trail names its creator, so the person answerable for the key is one click away.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from impersonator.models import ApiKey
from impersonator.services.api import keys
from impersonator.services.api.queries import impersonation_json
from impersonator.services.impersonation import live_sessions


def terminate(
    impersonation_id: int, *, reason: Any, api_key: ApiKey, ip: str | None, now: datetime
) -> dict[str, Any]:
    """End a live impersonation for the security team (end reason `security_terminated`, the reason
    kept as its end note); `terminated` is False when it had already ended (nothing changes then)."""
    if reason is not None and not isinstance(reason, str):
        reason = None  # a number or a list is no sentence: refused as missing
    done = live_sessions.terminate_as(
        impersonation_id, reason=reason, actor=keys.key_actor(api_key), ip=ip, now=now
    )
    return {"terminated": done.ended, "impersonation": impersonation_json(done.impersonation, now)}
