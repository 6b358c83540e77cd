"""Completeness rows of masking (DESIGN §13, issue 17): the demo's billing form and the kit's reveal."""

from __future__ import annotations

from tests.support.impersonation import launch_and_redeem, minutes, opt_in, user_id
from tests.support.masking import REASON, give_billing
from tests.support.web import ACME, sign_in, sign_in_customer
from tests.web.cases import Case


def _billed_alice(bed) -> int:
    alice = user_id(bed.app, "alice@acme.example")
    give_billing(bed.app, alice)
    return alice


def billing_save(bed) -> Case:
    """Alice changes her billing phone and notes."""
    _billed_alice(bed)
    assert sign_in_customer(bed.client, ACME, "alice@acme.example", "customer password").status_code == 303
    data = {"phone": "+1 415 555 0199", "notes": "Invoices in April."}
    return Case(ACME, "/billing", "/billing", data, accepted_status=303)


def ghost_reveal(bed) -> Case:
    """A read-only ghost in Alice's account reveals her card number with a reason."""
    alice = _billed_alice(bed)
    opt_in(bed.app, alice, bed.clock.now() + minutes(60))
    member = bed.make_staff("support")
    sign_in(bed.client, member, bed.clock)
    assert launch_and_redeem(bed.client, member, bed.clock, alice).redeemed.status_code == 303
    data = {"category": "payment", "key": "card", "reason": REASON, "back": "/billing"}
    return Case(ACME, "/impersonation/reveal", "/billing", data, accepted_status=303)


CSRF_CASES: dict = {
    ("tenant", "billing.save"): billing_save,
    ("tenant", "masking.reveal"): ghost_reveal,
}
