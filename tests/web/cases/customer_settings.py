"""Completeness rows of the customer's support-access settings and access history (issue 4)."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.impersonation import (
    launch_and_redeem,
    make_access_code,
    minutes,
    opt_in,
    the_impersonation,
    user_id,
)
from tests.support.web import ACME, sign_in, sign_in_customer
from tests.web.cases import Case

SETTINGS = "/settings/support-access"
HISTORY = f"{SETTINGS}/history"


def _alice_signed_in(bed) -> int:
    """Alice signs in on Acme in the bed's browser; returns her id."""
    response = sign_in_customer(bed.client, ACME, "alice@acme.example", "customer password")
    assert response.status_code == 303
    return user_id(bed.app, "alice@acme.example")


def settings_post(path: str, data: dict, *, accepted: int = 303, prepare=None) -> Callable:
    """A POST of the settings page by Alice; `prepare(bed, alice)` sets the scene so it changes something."""

    def build(bed) -> Case:
        alice = _alice_signed_in(bed)
        if prepare:
            prepare(bed, alice)
        return Case(ACME, f"{SETTINGS}{path}", SETTINGS, data, accepted_status=accepted)

    return build


def _opted_in(bed, alice: int) -> None:
    opt_in(bed.app, alice, bed.clock.now() + minutes(60))


def _with_code(bed, alice: int) -> None:
    make_access_code(bed.app, alice)


def history_revoke(bed) -> Case:
    """Support is in Alice's account (another browser); Alice revokes it from her history."""
    alice = user_id(bed.app, "alice@acme.example")
    _opted_in(bed, alice)
    member = bed.make_staff("support")
    staff_browser = bed.app.test_client()
    sign_in(staff_browser, member, bed.clock)
    redeemed = launch_and_redeem(staff_browser, member, bed.clock, alice).redeemed
    assert redeemed.status_code == 303
    _alice_signed_in(bed)
    path = f"{HISTORY}/{the_impersonation(bed.app).id}/revoke"
    return Case(ACME, path, HISTORY, accepted_status=303)


CSRF_CASES: dict = {
    ("tenant", "support_access.opt_in"): settings_post("/opt-in", {"period": "24h"}),
    ("tenant", "support_access.opt_out"): settings_post("/opt-out", {}, prepare=_opted_in),
    ("tenant", "support_access.generate_code"): settings_post("/code", {}),
    ("tenant", "support_access.revoke_code"): settings_post("/code/revoke", {}, prepare=_with_code),
    # The box unticked: the email is turned off (on is the tenant's default).
    ("tenant", "support_access.notifications"): settings_post("/notifications", {}),
    ("tenant", "support_access.revoke"): history_revoke,
}
