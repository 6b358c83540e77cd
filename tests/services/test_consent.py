"""The customer's consent (DESIGN §9, I5, I7; issue 4): opt-in periods that lapse by themselves,
opt-out at once, support access codes (generation, expiry, single use, revoke, replacement, lock),
the access-notice choice, what the policy means for the customer, and every change audited."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import AccessCode, AuditEvent, Setting
from impersonator.services import throttle
from impersonator.services.admin.settings import IMPERSONATION_ENABLED
from impersonator.services.consent import access_codes, support_access
from impersonator.services.consent.access_codes import ALPHABET, AccessCodeRejected
from impersonator.services.errors import InvalidInput, Locked, NotAllowed
from impersonator.services.impersonation import policy
from tests.support.ghost_rows import user_by_email

SHOWN = re.compile(rf"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}")


def events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def details(event: AuditEvent) -> dict:
    return json.loads(event.details)


def alice():
    return user_by_email("alice@acme.example")


def set_policy(policy_name: str, *, enabled: bool = True) -> None:
    tenant = alice().tenant
    tenant.access_policy, tenant.impersonation_enabled = policy_name, enabled
    db.session.commit()


# --- opt-in: a chosen period, lapsing by itself; opt-out at once ---------------------------------


@pytest.mark.parametrize(
    ("period", "length"),
    [
        ("8h", timedelta(hours=8)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30)),
    ],
)
def test_opt_in_allows_support_for_the_chosen_period_and_is_audited(app, tenants, clock, period, length):
    now = clock.now()
    with app.app_context():
        user = alice()
        until = support_access.opt_in(user, period, ghost=False, ip="203.0.113.9", now=now)

        assert until == now + length
        assert user_by_email("alice@acme.example").support_access_opt_in_until == now + length
        assert policy.opted_in(alice(), now) and not policy.code_required(alice(), now)
        [event] = events("support_access.opted_in")
        assert (event.actor_type, event.actor_id, event.target_id) == ("customer", user.id, user.id)
        assert (event.tenant_id, event.ip, event.at) == (user.tenant_id, "203.0.113.9", now)
        assert details(event) == {"until": until.isoformat(), "period": period, "previous_until": None}


def test_opt_in_lapses_by_itself_when_its_period_ends(app, tenants, clock):
    with app.app_context():
        until = support_access.opt_in(alice(), "8h", ghost=False, ip=None, now=clock.now())

    clock.advance(hours=8, seconds=-1)
    with app.app_context():
        assert policy.opted_in(alice(), clock.now())
        assert support_access.summary(alice(), clock.now()).opted_in_until == until

    clock.advance(seconds=1)
    with app.app_context():
        assert not policy.opted_in(alice(), clock.now())
        assert policy.code_required(alice(), clock.now())
        summary = support_access.summary(alice(), clock.now())
        assert summary.opted_in_until is None
        assert summary.state.code == "code_needed"


def test_opting_in_again_replaces_the_period_and_records_the_previous_one(app, tenants, clock):
    with app.app_context():
        first = support_access.opt_in(alice(), "30d", ghost=False, ip=None, now=clock.now())
        second = support_access.opt_in(alice(), "8h", ghost=False, ip=None, now=clock.now())

        assert alice().support_access_opt_in_until == second < first
        assert details(events("support_access.opted_in")[1])["previous_until"] == first.isoformat()


@pytest.mark.parametrize("period", [None, "", "forever", "0h", "31d", "8H", "8h\x00", "x" * 5000])
def test_opt_in_refuses_any_other_period_and_changes_nothing(app, tenants, clock, period):
    with app.app_context():
        with pytest.raises(InvalidInput) as refused:
            support_access.opt_in(alice(), period, ghost=False, ip=None, now=clock.now())
        db.session.rollback()

        assert refused.value.reason == "bad_period"
        assert "8 hours, 24 hours, 7 days, 30 days" in refused.value.message
        assert alice().support_access_opt_in_until is None
        assert events("support_access.opted_in") == []


def test_opt_in_is_never_longer_than_opt_in_max_days(make_app, tenants, clock):
    app = make_app(OPT_IN_MAX_DAYS=7)
    with app.app_context():
        assert support_access.periods() == {"8h": "8 hours", "24h": "24 hours", "7d": "7 days"}
        with pytest.raises(InvalidInput):
            support_access.opt_in(alice(), "30d", ghost=False, ip=None, now=clock.now())
        db.session.rollback()
        until = support_access.opt_in(alice(), "7d", ghost=False, ip=None, now=clock.now())
        assert until == clock.now() + timedelta(days=7)


def test_opt_out_takes_effect_at_once_and_is_audited(app, tenants, clock):
    with app.app_context():
        until = support_access.opt_in(alice(), "24h", ghost=False, ip=None, now=clock.now())
        clock.advance(minutes=5)

        assert support_access.opt_out(alice(), ghost=False, ip="203.0.113.9", now=clock.now()) is True

        assert alice().support_access_opt_in_until is None
        assert policy.code_required(alice(), clock.now())
        [event] = events("support_access.opted_out")
        assert details(event) == {"was_until": until.isoformat()}
        assert (event.actor_type, event.outcome) == ("customer", "success")


def test_opting_out_when_not_opted_in_changes_nothing_and_audits_nothing(app, tenants, clock):
    with app.app_context():
        assert support_access.opt_out(alice(), ghost=False, ip=None, now=clock.now()) is False
        support_access.opt_in(alice(), "8h", ghost=False, ip=None, now=clock.now())
    clock.advance(hours=9)  # lapsed by itself
    with app.app_context():
        assert support_access.opt_out(alice(), ghost=False, ip=None, now=clock.now()) is False
        assert events("support_access.opted_out") == []


@pytest.mark.parametrize(
    ("policy_name", "enabled"), [("code_always", True), ("off", True), ("opt_in_or_code", False)]
)
def test_opt_in_is_refused_where_the_tenant_policy_makes_it_meaningless(
    app, tenants, clock, policy_name, enabled
):
    with app.app_context():
        set_policy(policy_name, enabled=enabled)

        with pytest.raises(NotAllowed) as refused:
            support_access.opt_in(alice(), "8h", ghost=False, ip=None, now=clock.now())
        db.session.rollback()

        assert refused.value.reason == ("opt_in_not_used" if policy_name == "code_always" else "tenant_off")
        assert alice().support_access_opt_in_until is None


# --- support access codes -----------------------------------------------------------------------


def test_a_generated_code_is_shown_once_stored_as_a_keyed_hash_and_audited_without_it(app, tenants, clock):
    now = clock.now()
    with app.app_context():
        generated = support_access.generate_code(alice(), ghost=False, ip="203.0.113.9", now=now)

        assert SHOWN.fullmatch(generated.code)
        assert generated.expires_at == now + timedelta(minutes=app.config["ACCESS_CODE_TTL_MINUTES"])
        [row] = db.session.scalars(select(AccessCode)).all()
        assert generated.code.replace("-", "") not in row.code_hash
        assert len(row.code_hash) == 64 and row.expires_at == generated.expires_at
        [event] = events("access_code.generated")
        assert details(event) == {"expires_at": generated.expires_at.isoformat(), "replaced": 0}
        everything = " ".join(e.details for e in db.session.scalars(select(AuditEvent)))
        assert generated.code not in everything and generated.code.replace("-", "") not in everything
        assert support_access.current_code_expiry(alice(), now) == generated.expires_at


def test_a_code_works_once(app, tenants, clock):
    with app.app_context():
        code = support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now()).code
        access_codes.consume(alice(), code, now=clock.now())

        with pytest.raises(AccessCodeRejected) as again:
            access_codes.consume(alice(), code, now=clock.now())
        assert again.value.reason == "access_code_wrong"
        assert support_access.current_code_expiry(alice(), clock.now()) is None


def test_a_code_expires_after_access_code_ttl_minutes(app, tenants, clock):
    with app.app_context():
        code = support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now()).code
    clock.advance(minutes=app.config["ACCESS_CODE_TTL_MINUTES"])
    with app.app_context():
        assert support_access.current_code_expiry(alice(), clock.now()) is None
        with pytest.raises(AccessCodeRejected):
            access_codes.consume(alice(), code, now=clock.now())


def test_a_new_code_replaces_the_old_one(app, tenants, clock):
    with app.app_context():
        old = support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now()).code
        new = support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now()).code

        assert details(events("access_code.generated")[1])["replaced"] == 1
        with pytest.raises(AccessCodeRejected):
            access_codes.consume(alice(), old, now=clock.now())
        access_codes.consume(alice(), new, now=clock.now())


def test_revoking_kills_the_code_at_once_and_is_audited(app, tenants, clock):
    with app.app_context():
        code = support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now()).code

        assert support_access.revoke_codes(alice(), ghost=False, ip=None, now=clock.now()) == 1

        with pytest.raises(AccessCodeRejected):
            access_codes.consume(alice(), code, now=clock.now())
        assert details(events("access_code.revoked")[0]) == {"revoked": 1}
        assert support_access.revoke_codes(alice(), ghost=False, ip=None, now=clock.now()) == 0
        assert len(events("access_code.revoked")) == 1  # nothing to revoke: nothing audited


@pytest.mark.parametrize("typed", ["lower", "spaces", "no dash", "padded"])
def test_code_entry_forgives_case_spaces_and_dashes(app, tenants, clock, typed):
    with app.app_context():
        code = support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now()).code
        plain = code.replace("-", "")
        entered = {
            "lower": code.lower(),
            "spaces": " ".join(plain),
            "no dash": plain,
            "padded": f"  {code[:4]} - {code[5:]}  ",
        }[typed]

        access_codes.consume(alice(), entered, now=clock.now())


def test_a_code_never_opens_another_users_account_or_another_tenant(app, tenants, clock):
    with app.app_context():
        gina = user_by_email("gina@globex.example")
        ginas = support_access.generate_code(gina, ghost=False, ip=None, now=clock.now()).code
        alices = support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now()).code

        with pytest.raises(AccessCodeRejected):
            access_codes.consume(alice(), ginas, now=clock.now())
        with pytest.raises(AccessCodeRejected):
            access_codes.consume(gina, alices, now=clock.now())
        # Neither wrong try used up the codes of their owners.
        access_codes.consume(gina, ginas, now=clock.now())
        access_codes.consume(alice(), alices, now=clock.now())


def lock_code_entry(user, now) -> None:
    for _ in range(5):
        throttle.record_failure(access_codes.failure_key(user.id), access_codes.failure_limit(), now)
    db.session.commit()


def test_generation_is_refused_while_code_entry_is_locked_and_the_refusal_is_audited(app, tenants, clock):
    with app.app_context():
        lock_code_entry(alice(), clock.now())
        until = clock.now() + timedelta(minutes=app.config["ACCESS_CODE_LOCK_MINUTES"])

        with pytest.raises(Locked) as refused:
            support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now())

        assert refused.value.status == 429 and refused.value.until == until
        assert "wrong codes were entered" in refused.value.message
        # Rounded up to the minute: "after 13:01" is never a minute at which it is still locked.
        assert "generate a new code after 13:01 UTC." in refused.value.message
        assert str(refused.value) == refused.value.message
        assert db.session.scalar(select(func.count()).select_from(AccessCode)) == 0
        [event] = events("access_code.generate_refused")
        assert event.outcome == "denied"
        assert details(event) == {"reason": "access_code_locked", "until": until.isoformat()}
        summary = support_access.summary(alice(), clock.now())
        assert summary.code_locked_until == until
        assert summary.code_locked_text == refused.value.message

    clock.advance(minutes=app.config["ACCESS_CODE_LOCK_MINUTES"])
    with app.app_context():
        assert SHOWN.fullmatch(
            support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now()).code
        )


def test_no_code_is_generated_where_support_access_is_off(app, tenants, clock):
    with app.app_context():
        set_policy("off")
        with pytest.raises(NotAllowed) as refused:
            support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now())
        assert refused.value.reason == "tenant_off"


# --- the access-notice email choice -------------------------------------------------------------


def test_the_access_notice_follows_the_tenant_default_until_the_customer_chooses(app, tenants, clock):
    with app.app_context():
        alice().tenant.notify_on_access_default = False
        db.session.commit()
        assert alice().wants_access_notice is False

        assert support_access.set_access_notice(alice(), True, ghost=False, ip=None, now=clock.now()) is True
        assert alice().wants_access_notice is True and alice().notify_on_access is True
        assert support_access.set_access_notice(alice(), True, ghost=False, ip=None, now=clock.now()) is False

        alice().tenant.notify_on_access_default = True
        db.session.commit()
        assert support_access.set_access_notice(alice(), False, ghost=False, ip=None, now=clock.now()) is True
        assert alice().wants_access_notice is False

        changes = [details(e) for e in events("support_access.notifications_changed")]
        assert changes == [{"old": False, "new": True}, {"old": True, "new": False}]


# --- I7: never the ghost's ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda user, now: support_access.opt_in(user, "8h", ghost=True, ip=None, now=now),
        lambda user, now: support_access.opt_out(user, ghost=True, ip=None, now=now),
        lambda user, now: support_access.generate_code(user, ghost=True, ip=None, now=now),
        lambda user, now: support_access.revoke_codes(user, ghost=True, ip=None, now=now),
        lambda user, now: support_access.set_access_notice(user, False, ghost=True, ip=None, now=now),
    ],
    ids=["opt_in", "opt_out", "generate_code", "revoke_codes", "set_access_notice"],
)
def test_i7_the_service_refuses_every_consent_change_to_the_ghost(app, tenants, clock, change):
    with app.app_context():
        user = alice()
        user.support_access_opt_in_until = clock.now() + timedelta(hours=1)
        db.session.commit()
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))

        with pytest.raises(support_access.NotForGhost):
            change(alice(), clock.now())
        db.session.rollback()

        user = alice()
        assert user.support_access_opt_in_until == clock.now() + timedelta(hours=1)
        assert user.notify_on_access is None
        assert db.session.scalar(select(func.count()).select_from(AccessCode)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


# --- what a support request needs, in the customer's words -------------------------------------


def test_the_summary_explains_each_policy(app, tenants, clock):
    now = clock.now()
    with app.app_context():
        summary = support_access.summary(alice(), now)
        assert (summary.policy, summary.opt_in_offered, summary.codes_offered) == (
            "opt_in_or_code",
            True,
            True,
        )
        assert "only with a support access code you generate here" in summary.needs
        assert summary.access_notice is True and summary.code_expires_at is None

        support_access.opt_in(alice(), "8h", ghost=False, ip=None, now=now)
        summary = support_access.summary(alice(), now)
        assert "without a code until" in summary.needs
        assert (now + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M UTC") in summary.needs

        set_policy("code_always")
        summary = support_access.summary(alice(), now)
        assert "requires a support access code every time" in summary.needs
        assert (summary.opt_in_offered, summary.codes_offered) == (False, True)

        set_policy("off")
        summary = support_access.summary(alice(), now)
        assert "turned support access off" in summary.needs
        assert (summary.opt_in_offered, summary.codes_offered) == (False, False)

        set_policy("opt_in_or_code", enabled=False)
        assert "turned support access off" in support_access.summary(alice(), now).needs

        set_policy("opt_in_or_code")
        db.session.merge(Setting(key=IMPERSONATION_ENABLED, value="off", updated_at=now))
        db.session.commit()
        assert "switched off for everyone" in support_access.summary(alice(), now).needs


def test_the_summary_never_holds_the_code(app, tenants, clock):
    with app.app_context():
        code = support_access.generate_code(alice(), ghost=False, ip=None, now=clock.now()).code
        summary = support_access.summary(alice(), clock.now())

        assert code not in repr(summary) and code.replace("-", "") not in repr(summary)
        assert summary.code_expires_at == clock.now() + timedelta(
            minutes=app.config["ACCESS_CODE_TTL_MINUTES"]
        )
