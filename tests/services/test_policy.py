"""The policy service (DESIGN I5, I6, §7, §9): who may be impersonated, by whom, in which mode, and
what a request needs. One place answers, with a reason code for each refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from impersonator.extensions import db
from impersonator.models import ROLES, Staff, Tenant, User
from impersonator.services.admin import switches
from impersonator.services.audit import Actor
from impersonator.services.impersonation import policy

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MAY_USE = {
    ("support", "read_only"),
    ("impersonator", "read_only"),
    ("impersonator", "full"),
}


def customer(
    *, opted_in_until: datetime | None = None, active: bool = True, access_policy: str = "opt_in_or_code"
) -> User:
    """A customer user that lives only in memory (the rules below read no database)."""
    tenant = Tenant(slug="acme", name="Acme", impersonation_enabled=True, access_policy=access_policy)
    return User(
        tenant=tenant, email="alice@acme.example", name="Alice", active=active,
        support_access_opt_in_until=opted_in_until,
    )  # fmt: skip


def staff(role: str, *, active: bool = True) -> Staff:
    return Staff(email=f"{role}@staff.example", name=role.title(), role=role, active=active)


def refusal(check, *args) -> str | None:
    try:
        check(*args)
    except policy.PolicyDenied as denied:
        return denied.reason
    return None


# --- who may impersonate (I6, §7) --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["read_only", "full"])
@pytest.mark.parametrize("role", ROLES)
def test_i6_only_the_roles_of_design_section_7_may_impersonate_in_each_mode(role, mode):
    expected = None if (role, mode) in MAY_USE else "mode_not_allowed"

    assert refusal(policy.check_staff, staff(role), mode) == expected


@pytest.mark.parametrize("mode", ["admin", "", None, "READ_ONLY"])
def test_i6_an_unknown_mode_is_refused_even_to_an_impersonator(mode):
    assert refusal(policy.check_staff, staff("impersonator"), mode) == "mode_not_allowed"


def test_i6_an_inactive_staff_member_may_not_impersonate():
    assert refusal(policy.check_staff, staff("impersonator", active=False), "read_only") == "staff_inactive"


def test_i6_an_unknown_role_holds_nothing():
    assert refusal(policy.check_staff, staff("superuser"), "read_only") == "mode_not_allowed"


def test_every_denial_has_a_sentence_for_people():
    for reason, sentence in policy.DENIALS.items():
        denied = policy.deny(reason)
        assert (denied.reason, denied.message, denied.status) == (reason, sentence, 403)
        assert sentence.endswith(".")


# --- what a request needs (I5, §9) -------------------------------------------------------------


def test_i5_an_opted_in_user_needs_no_code():
    assert not policy.code_required(customer(opted_in_until=NOW + timedelta(hours=1)), NOW)


@pytest.mark.parametrize(
    "until", [None, NOW, NOW - timedelta(seconds=1)], ids=["never opted in", "lapses now", "lapsed"]
)
def test_i5_a_user_who_is_not_opted_in_needs_their_code(until):
    assert policy.code_required(customer(opted_in_until=until), NOW)


def test_i5_a_code_always_tenant_needs_the_code_even_from_an_opted_in_user():
    user = customer(opted_in_until=NOW + timedelta(days=1), access_policy="code_always")

    assert policy.code_required(user, NOW)


# --- what the console shows next to a user ----------------------------------------------------


@pytest.mark.parametrize(
    ("user", "switch_on", "code", "needs_code", "possible"),
    [
        (customer(opted_in_until=NOW + timedelta(hours=8)), True, "opted_in", False, True),
        (customer(), True, "code_needed", True, True),
        (
            customer(opted_in_until=NOW + timedelta(hours=8), access_policy="code_always"),
            True,
            "code_needed",
            True,
            True,
        ),
        (customer(access_policy="off"), True, "tenant_off", False, False),
        (customer(active=False), True, "inactive", False, False),
        (customer(opted_in_until=NOW + timedelta(hours=8)), False, "switched_off", False, False),
    ],
    ids=["opted in", "not opted in", "code_always", "tenant policy off", "inactive", "switched off"],
)
def test_i5_the_access_state_tells_what_a_request_needs(user, switch_on, code, needs_code, possible):
    state = policy.access_state(user, NOW, switch_on=switch_on)

    assert (state.code, state.needs_code, state.possible) == (code, needs_code, possible)


def test_i5_the_access_state_says_until_when_a_user_opted_in():
    state = policy.access_state(customer(opted_in_until=NOW + timedelta(hours=8)), NOW, switch_on=True)

    assert state.label == "opted in until 2026-11-23 20:00 UTC"


def test_i5_a_tenant_with_impersonation_disabled_is_off_whatever_its_policy():
    user = customer(opted_in_until=NOW + timedelta(hours=8))
    user.tenant.impersonation_enabled = False

    assert policy.access_state(user, NOW, switch_on=True).code == "tenant_off"


# --- who may be impersonated, with the switch read from the database (I5) ---------------------------


@pytest.fixture
def alice(app, tenants):
    """Acme's customer, read in the app context the caller opens."""

    def load() -> User:
        return db.session.scalar(db.select(User).where(User.email == "alice@acme.example"))

    return load


def test_i5_a_user_may_be_impersonated_while_everything_is_on(app, alice):
    with app.app_context():
        assert refusal(policy.check_target, alice(), NOW) is None


def test_i5_nobody_may_be_impersonated_while_the_global_switch_is_off(app, alice):
    with app.app_context():
        switches.set_impersonation_enabled(False, actor=Actor.system("test"), ip=None, now=NOW)

        assert refusal(policy.check_target, alice(), NOW) == "switched_off"
        assert policy.access_state(alice(), NOW).code == "switched_off"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda u: setattr(u.tenant, "impersonation_enabled", False), "tenant_off"),
        (lambda u: setattr(u.tenant, "access_policy", "off"), "tenant_off"),
        (lambda u: setattr(u, "active", False), "user_inactive"),
    ],
    ids=["tenant disabled", "tenant policy off", "user inactive"],
)
def test_i5_the_tenant_and_the_account_must_allow_it(app, alice, change, reason):
    with app.app_context():
        change(alice())
        db.session.commit()

        assert refusal(policy.check_target, alice(), NOW) == reason


def test_i5_the_switch_is_the_first_thing_checked(app, alice):
    """Switched off, the answer is the switch, whatever else is also wrong."""
    with app.app_context():
        alice().active = False
        switches.set_impersonation_enabled(False, actor=Actor.system("test"), ip=None, now=NOW)

        assert refusal(policy.check_target, alice(), NOW) == "switched_off"
