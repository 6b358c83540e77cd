"""A one-time secret carried across a redirect (Post/Redirect/Get): the POST that makes a secret (a
support access code, a webhook's signing secret, an enrolment link) keeps it here and redirects; the
GET that follows takes it, shows it once, and a reload finds nothing left to show.

Where it waits: in this browser's session, encrypted (Fernet, with a key derived from SECRET_KEY for
this purpose alone) as well as signed, for a few minutes at most. Flask's session cookie is only
signed, so a secret kept there in the clear could be read by anyone who sees the cookie; encrypted,
the cookie holds nothing readable, and it only ever travels between this browser and this host, the
one the page showing the secret goes to anyway (HttpOnly, never in an address or a log). The slot
names what it is for (`kind`, `ref`), so a secret meant for one page never shows on another.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import session

from impersonator import clock
from impersonator.services.keys import derived_key

SLOT = "shown_once"
# Between the POST and its redirect's GET: seconds, unless the browser stalls; past this the secret
# is dropped unseen (the page then says it was shown once, and how to get a new one).
MAX_AGE_SECONDS = 300


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derived_key("shown-once")))


def keep(kind: str, ref: int, values: dict[str, Any], *, now: datetime | None = None) -> None:
    """Keep `values` (JSON-able, the secret among them) for the next GET of the page of `kind`/`ref`;
    a newer secret replaces one not yet shown."""
    at = int((now or clock.now()).timestamp())
    box = _fernet().encrypt_at_time(json.dumps(values).encode(), at).decode()
    session[SLOT] = {"kind": kind, "ref": ref, "box": box}


def take(kind: str, ref: int, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The values kept for the page of `kind`/`ref`, removed as they are read (None: nothing kept,
    already shown, too old, or unreadable, e.g. after a SECRET_KEY change)."""
    slot = session.get(SLOT)
    if not isinstance(slot, dict) or slot.get("kind") != kind or slot.get("ref") != ref:
        return None
    session.pop(SLOT, None)
    at = int((now or clock.now()).timestamp())
    try:
        values = json.loads(_fernet().decrypt_at_time(str(slot.get("box", "")).encode(), MAX_AGE_SECONDS, at))
    except (InvalidToken, ValueError):
        return None
    return values if isinstance(values, dict) else None
