"""Completeness rows of the security team's pages: audit log, impersonation detail, live sessions."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from impersonator import clock
from impersonator.extensions import db
from impersonator.models import Impersonation, Staff, User
from impersonator.services.staff.roles import Permission
from tests.support.impersonation import launch_and_redeem, minutes, opt_in, the_impersonation, user_id
from tests.support.web import CONSOLE, sign_in
from tests.web.cases import Case

if TYPE_CHECKING:
    from tests.web.conftest import Bed

SECURITY_TEAM = {"security", "admin"}


def live_session(bed: Bed) -> int:
    """A support agent (in a browser of their own) is in Alice's account right now."""
    alice = user_id(bed.app, "alice@acme.example")
    opt_in(bed.app, alice, bed.clock.now() + minutes(60))
    agent = bed.make_staff("support")
    agent_browser = bed.app.test_client()
    sign_in(agent_browser, agent, bed.clock)
    assert launch_and_redeem(agent_browser, agent, bed.clock, alice).redeemed.status_code == 303
    return the_impersonation(bed.app).id


def terminate_live_session(bed: Bed) -> Case:
    impersonation_id = live_session(bed)
    sign_in(bed.client, bed.make_staff("security"), bed.clock)
    return Case(
        CONSOLE,
        f"/audit/live/{impersonation_id}/terminate",
        "/audit/live",
        {"reason": "Unusual access pattern reported by the customer"},
        accepted_status=303,
    )


def an_impersonation(app) -> int:
    """A real impersonation row (redeemed and live), so the detail page has something to show."""
    now = clock.now()
    with app.app_context():
        staff_id = db.session.scalar(select(Staff.id).order_by(Staff.id).limit(1))
        user = db.session.scalar(select(User).where(User.email == "alice@acme.example"))
        imp = Impersonation(
            staff_id=staff_id,
            user_id=user.id,
            tenant_id=user.tenant_id,
            reason="An example impersonation for the role table",
            mode="read_only",
            duration_minutes=60,
            access_via="opt_in",
            token_jti=secrets.token_hex(16),
            audience="acme.localhost",
            issued_at=now,
            token_expires_at=now + timedelta(seconds=60),
            redeemed_at=now,
            expires_at=now + timedelta(minutes=60),
        )
        db.session.add(imp)
        db.session.commit()
        return imp.id


CSRF_CASES: dict = {("console", "live_sessions.terminate"): terminate_live_session}
PAGE_ACCESS: dict = {
    "/audit/": SECURITY_TEAM,
    "/audit/export": SECURITY_TEAM,
    "/audit/impersonations/<int:impersonation_id>": SECURITY_TEAM,
    "/audit/live": SECURITY_TEAM,
}
POST_PERMISSIONS: dict = {"live_sessions.terminate": Permission.AUDIT}
PATH_EXAMPLES: dict = {"impersonation_id": an_impersonation}
