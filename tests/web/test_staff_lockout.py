"""Staff lockout without a denial of service (DESIGN I6, issue 11 item 10): wrong passwords and codes
throttle one account from one address; the account locks from everywhere only on failures spread
over several addresses, and its owner is told by email through the outbox."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import FailedAttempt, OutboxMessage
from impersonator.services.delivery import senders
from tests.support.impersonation import impersonations, request_impersonation, token_from_launch
from tests.support.records import audit_events, staff_sessions
from tests.support.smtp import SmtpServer
from tests.support.web import CONSOLE, from_address, sign_in, sign_in_password, submit_code

ATTACKERS = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"]
OWNER = "203.0.113.10"
FRESH = "203.0.113.99"


def count(app, action: str) -> int:
    return len(audit_events(app, action))


def alert_kinds(app) -> list[str]:
    return [event["details"]["kind"] for event in audit_events(app, "security.alert")]


def mails(app) -> list[dict]:
    """The queued mails, decoded, with their event type."""
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "mail"))
        return [{"event_type": row.event_type, **json.loads(row.payload)} for row in rows]


def wrong_code(member, clock) -> str:
    """Six digits that are no code of the steps around now."""
    now = clock.now()
    near = {member.code(now + timedelta(seconds=30 * step)) for step in range(-1, 4)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def spread_wrong_passwords(app, email: str, failures: int, *, done: int = 0) -> None:
    """`failures` wrong passwords for `email`, four from each attacking address in turn (after `done`
    such failures): never the five that throttle one address."""
    for n in range(done, done + failures):
        browser = from_address(app.test_client(), ATTACKERS[n // 4])
        assert sign_in_password(browser, email, "a guess").status_code == 401


# --- one address: a throttle for that address only -------------------------------------------


def test_i6_five_wrong_passwords_from_one_address_leave_the_owner_elsewhere_alone(app, make_staff, clock):
    member = make_staff("support")
    attacker = from_address(app.test_client(), ATTACKERS[0])
    for _ in range(5):
        assert sign_in_password(attacker, member.email, "a guess").status_code == 401

    refused = sign_in_password(attacker, member.email, member.password)
    owner = from_address(app.test_client(), OWNER)
    sign_in(owner, member, clock)

    assert refused.status_code == 429
    assert "Too many failed attempts. Try again after 12:16 UTC." in refused.text
    assert refused.headers["Retry-After"] == str(15 * 60)
    assert owner.get("/", base_url=CONSOLE).status_code == 200
    assert count(app, "staff.locked") == 0
    assert mails(app) == []


def test_i6_the_throttle_is_audited_once_with_an_alert(app, make_staff, clock):
    member = make_staff("support")
    attacker = from_address(app.test_client(), ATTACKERS[0])
    for _ in range(5):
        sign_in_password(attacker, member.email, "a guess")
    for _ in range(3):
        assert sign_in_password(attacker, member.email, "a guess").status_code == 429

    [throttled] = audit_events(app, "staff.throttled")
    assert throttled["target_id"] == member.id and throttled["ip"] == ATTACKERS[0]
    assert throttled["details"]["until"].startswith("2026-11-23T12:15:05")
    assert alert_kinds(app) == ["staff_throttled"]
    assert count(app, "staff.sign_in_failed") == 5  # refusals while throttled are not audited one by one


def test_i6_wrong_codes_from_one_address_end_only_that_half_way_sign_in(app, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()
    owner = from_address(app.test_client(), OWNER)
    assert sign_in_password(owner, member.email, member.password).status_code == 302
    thief = from_address(app.test_client(), ATTACKERS[0])  # knows the password, not the code
    sign_in_password(thief, member.email, member.password)
    for _ in range(5):
        assert submit_code(thief, wrong_code(member, clock)).status_code == 400

    assert thief.get("/sign-in/code", base_url=CONSOLE).headers["Location"].endswith("/sign-in")
    assert sign_in_password(thief, member.email, member.password).status_code == 429
    assert submit_code(owner, member.code()).status_code == 302  # the owner's step is still open
    assert owner.get("/", base_url=CONSOLE).status_code == 200


# --- many addresses: the account locks, its owner is told ------------------------------------


def test_i6_failures_spread_over_addresses_lock_the_account_from_everywhere(app, make_staff, clock):
    member = make_staff("support")
    spread_wrong_passwords(app, member.email, 19)
    fresh = from_address(app.test_client(), FRESH)
    assert sign_in_password(fresh, member.email, member.password).status_code == 302  # not locked yet

    spread_wrong_passwords(app, member.email, 1, done=19)
    refused = sign_in_password(from_address(app.test_client(), FRESH), member.email, member.password)
    owner = sign_in_password(from_address(app.test_client(), OWNER), member.email, member.password)

    assert refused.status_code == owner.status_code == 429
    assert "Too many failed attempts. Try again after 12:16 UTC." in owner.text
    [locked] = audit_events(app, "staff.locked")
    assert locked["target_id"] == member.id
    assert alert_kinds(app) == ["staff_locked"]
    assert [e["details"]["reason"] for e in audit_events(app, "staff.sign_in_failed")][-2:] == ["locked"] * 2
    assert staff_sessions(app, member.id) == []


def test_i6_the_lock_ends_every_half_way_sign_in(app, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()
    owner = from_address(app.test_client(), OWNER)
    sign_in_password(owner, member.email, member.password)

    spread_wrong_passwords(app, member.email, 20)

    assert owner.get("/sign-in/code", base_url=CONSOLE).headers["Location"].endswith("/sign-in")


def test_i6_the_locked_staff_member_gets_one_email_through_the_outbox(app, make_staff, clock):
    member = make_staff("support")
    spread_wrong_passwords(app, member.email, 20)
    for address in ATTACKERS:  # refused while locked: no second mail
        assert (
            sign_in_password(from_address(app.test_client(), address), member.email, "x").status_code == 429
        )

    [notice] = mails(app)
    assert notice["to"] == member.email
    assert notice["event_type"] == "staff.lock_notice"
    assert notice["subject"] == "Your Impersonator account is locked"
    for part in (notice["text"], notice["html"]):
        assert "2026-11-23 12:00 UTC" in part  # when it locked
        assert "2026-11-23 12:15 UTC" in part  # until when
        assert "at least 3 different network addresses" in part
        assert "your security team" in part


def test_i10_the_lock_email_reaches_the_staff_member_by_smtp_from_the_worker(make_app, make_staff, clock):
    smtp = SmtpServer()
    smtp.start()
    try:
        app = make_app(**smtp.config())
        member = make_staff("support")
        spread_wrong_passwords(app, member.email, 20)
        assert smtp.inbox == []  # nothing is sent from a request

        with app.app_context():
            done = senders.work_once(clock.now())
    finally:
        smtp.stop()

    assert done.delivered == 1
    [received] = smtp.to(member.email)
    assert received.subject == "Your Impersonator account is locked"
    assert "until 2026-11-23 12:15 UTC" in received.text
    assert "Was this not you?" in received.text


def test_i6_the_lock_email_names_the_configured_security_contact(make_app, make_staff, clock):
    app = make_app(SECURITY_CONTACT="security@corp.example")
    member = make_staff("support")
    spread_wrong_passwords(app, member.email, 20)

    [notice] = mails(app)
    assert "Tell security@corp.example now" in notice["text"]


def test_i6_an_unknown_email_is_throttled_and_locked_the_same_way_without_mail(app, clock):
    spread_wrong_passwords(app, "nobody@staff.example", 18)
    probe = sign_in_password(from_address(app.test_client(), FRESH), "nobody@staff.example", "x")
    assert probe.status_code == 401  # the 19th failure, from a sixth address: not locked yet

    spread_wrong_passwords(app, "nobody@staff.example", 1, done=18)
    refused = sign_in_password(from_address(app.test_client(), FRESH), "nobody@staff.example", "x")

    assert refused.status_code == 429
    assert "Too many failed attempts. Try again after 12:16 UTC." in refused.text
    assert count(app, "staff.locked") == 1
    assert alert_kinds(app) == ["staff_locked"]
    assert mails(app) == []


def test_i6_failures_from_two_addresses_never_lock_the_account(make_app, make_staff, clock):
    app = make_app(ACCOUNT_LOCK_FAILURES=8)
    member = make_staff("support")
    for _round in range(2):
        for address in ATTACKERS[:2]:
            attacker = from_address(app.test_client(), address)
            for _ in range(4):
                sign_in_password(attacker, member.email, "a guess")

    sign_in(from_address(app.test_client(), OWNER), member, clock)

    assert count(app, "staff.locked") == 0
    assert count(app, "staff.throttled") == 2


def test_i6_the_owners_sign_in_forgets_only_their_own_failures(make_app, make_staff, clock):
    app = make_app(ACCOUNT_LOCK_FAILURES=8)
    member = make_staff("support")
    owner = from_address(app.test_client(), OWNER)
    for _ in range(2):
        sign_in_password(owner, member.email, "a typo")
    for address, times in ((ATTACKERS[0], 3), (ATTACKERS[1], 2)):
        for _ in range(times):
            sign_in_password(from_address(app.test_client(), address), member.email, "a guess")

    sign_in(owner, member, clock)  # 7 failures from 3 addresses; the owner's 2 stop counting
    for _ in range(2):
        sign_in_password(from_address(app.test_client(), ATTACKERS[2]), member.email, "a guess")
    assert count(app, "staff.locked") == 0  # 7 from elsewhere, not 9
    sign_in_password(from_address(app.test_client(), ATTACKERS[2]), member.email, "a guess")

    assert count(app, "staff.locked") == 1  # the attackers' own failures were not wiped


def test_failure_rows_keep_no_address_and_no_email(app, make_staff, clock):
    member = make_staff("support")
    sign_in_password(from_address(app.test_client(), ATTACKERS[0]), member.email, "a guess")

    with app.app_context():
        stored = " ".join(f"{row.key} {row.source}" for row in db.session.scalars(select(FailedAttempt)))
    assert member.email not in stored
    assert stored.count(ATTACKERS[0]) == 1  # only the address counter's own key names it, as before


# --- the step-up of an impersonation request counts the same way ------------------------------


def test_i6_wrong_step_up_codes_from_one_address_throttle_only_there(app, make_staff, alice, clock):
    member = make_staff("support")
    attacker = from_address(app.test_client(), ATTACKERS[0])
    sign_in(attacker, member, clock)
    for _ in range(5):
        wrong = request_impersonation(attacker, member, clock, alice, totp_code=wrong_code(member, clock))
        assert wrong.status_code == 400
    refused = request_impersonation(attacker, member, clock, alice)

    owner = from_address(app.test_client(), OWNER)
    sign_in(owner, member, clock)
    token_from_launch(request_impersonation(owner, member, clock, alice))

    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert [e["details"]["reason"] for e in audit_events(app, "impersonation.denied")][
        -1
    ] == "account_throttled"
    assert count(app, "staff.throttled") == 1
    assert count(app, "staff.locked") == 0
    assert len(impersonations(app)) == 1


def test_i6_wrong_step_up_codes_spread_over_addresses_lock_and_mail(app, make_staff, alice, clock):
    member = make_staff("support")
    browser = app.test_client()
    sign_in(browser, member, clock)
    for n in range(20):
        from_address(browser, ATTACKERS[n // 4])
        request_impersonation(browser, member, clock, alice, totp_code=wrong_code(member, clock))

    refused = request_impersonation(from_address(browser, FRESH), member, clock, alice)

    assert refused.status_code == 429
    assert [e["details"]["reason"] for e in audit_events(app, "impersonation.denied")][-1] == "account_locked"
    assert count(app, "staff.locked") == 1
    assert alert_kinds(app) == ["staff_locked"]
    assert [mail["to"] for mail in mails(app)] == [member.email]
    assert impersonations(app) == []
