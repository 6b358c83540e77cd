"""The console's handoff page, once (DESIGN I3, issue 13).

Starting an impersonation is POST-redirect-GET: `lifecycle.request` records the impersonation (its
token's jti, audience and expiry) and the POST redirects to the handoff page. That page's one GET
signs the token from the stored row and marks it handed over in the same atomic conditional UPDATE
that finds it, so a reload, the back button or a second tab get "already handed over", never the
token again. The token is only ever in that response's body: never in a URL, a log or a cookie.
Redemption keeps checking the stored `token_expires_at`, so signing later never lengthens its life.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from impersonator.extensions import db
from impersonator.models import Impersonation
from impersonator.services import links
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import tokens


@dataclass(frozen=True)
class Launch:
    """What the handoff page needs: the token goes in a POST body to `redeem_url`, nowhere else."""

    impersonation_id: int
    token: str
    redeem_url: str
    origin: str
    user_name: str
    tenant_name: str
    mode: str
    duration_minutes: int


class HandoffNotFound(DomainError):
    """No such impersonation, or another staff member's: the same answer for both."""

    status = 404

    def __init__(self) -> None:
        super().__init__("handoff_not_found", "There is no such impersonation link.")


class HandoffGone(DomainError):
    """The link was handed over already (reason `handed_over`) or ran out first (`link_expired`)."""

    status = 410

    def __init__(self, reason: str, user_id: int) -> None:
        messages = {
            "handed_over": "This impersonation link was already handed over: it is shown only once.",
            "link_expired": "This impersonation link expired before it was opened.",
        }
        super().__init__(reason, messages[reason])
        self.user_id = user_id


def hand_over(staff_id: int, user_id: int, impersonation_id: int, *, now: datetime) -> Launch:
    """Sign the token of the staff member's own impersonation of `user_id`, once, while it can still
    be redeemed; HandoffNotFound or HandoffGone otherwise."""
    claimed = db.session.execute(
        update(Impersonation)
        .where(
            Impersonation.id == impersonation_id,
            Impersonation.staff_id == staff_id,
            Impersonation.user_id == user_id,
            Impersonation.handed_over_at.is_(None),
            Impersonation.redeemed_at.is_(None),
            Impersonation.ended_at.is_(None),
            Impersonation.token_expires_at > now,
        )
        .values(handed_over_at=now)
        .execution_options(synchronize_session=False)
    )
    imp = db.session.get(Impersonation, impersonation_id)
    if imp is None or imp.staff_id != staff_id or imp.user_id != user_id:
        db.session.rollback()
        raise HandoffNotFound()
    if claimed.rowcount != 1:
        seen = imp.handed_over_at is not None or imp.redeemed_at is not None
        gone = HandoffGone("handed_over" if seen else "link_expired", imp.user_id)
        db.session.rollback()
        raise gone
    launch = Launch(
        imp.id,
        tokens.issue(tokens.Claims(imp.id, imp.token_jti, imp.audience)),
        links.tenant_url(imp.audience, "impersonation.redeem"),
        links.tenant_origin(imp.audience),
        imp.user.name,
        imp.tenant.name,
        imp.mode,
        imp.duration_minutes,
    )
    db.session.commit()
    return launch
