"""Creating staff members (issue 5 §5; DESIGN I1, I11, I12): a one-time enrolment link that leads
through password and authenticator enrolment into the console; re-issuing it; refusing bad input; the
`flask staff create` and `flask staff invite` commands."""

from __future__ import annotations

import hashlib
import html
import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import AuditEvent, Staff, StaffInvite
from impersonator.services import secret_box
from impersonator.services.staff import invites, totp
from tests.support.records import audit_actions, audit_events, staff_row, staff_sessions
from tests.support.staff_admin import admin_post, member_id
from tests.support.web import CONSOLE, csrf_token, flashes, sign_in, sign_in_password, submit_code

PASSWORD = "correct horse battery staple"
_LINK = re.compile(r'id="enrolment-link"[^>]*>([^<]+)</code>')


def create_member(admin, email="newcomer@staff.example", name="Nina Newcomer", role="support"):
    # A success redirects to the page that shows the link once (PRG): followed, as a browser does.
    data = {"email": email, "name": name, "role": role}
    return admin_post(admin, "/admin/staff/", data, follow_redirects=True)


def link_on(response) -> str:
    match = _LINK.search(response.text)
    assert match, "no enrolment link on the page"
    return html.unescape(match.group(1))


def link_token(link: str) -> str:
    """The link's one-time token: in its fragment, which no browser sends to a server."""
    parts = urlsplit(link)
    assert parts.path == "/enrol" and not parts.query, link
    return parts.fragment


def open_link(browser, link: str):
    """What the link's page does: its script posts the fragment's token to /enrol/open."""
    opener = browser.get("/enrol", base_url=CONSOLE)
    assert opener.status_code == 200, opener.text
    data = {"csrf_token": csrf_token(opener.text), "token": link_token(link)}
    return browser.post("/enrol/open", base_url=CONSOLE, data=data)


def post_password(browser, link: str, page, password: str = PASSWORD, confirmation: str | None = None):
    """Submit the password form of `page` (the link's opened page) for `link`."""
    data = {"csrf_token": csrf_token(page.text), "token": link_token(link), "password": password}
    data["confirmation"] = password if confirmation is None else confirmation
    return browser.post("/enrol", base_url=CONSOLE, data=data)


def enrol_password(browser, link: str, password: str = PASSWORD, confirmation: str | None = None):
    page = open_link(browser, link)
    assert page.status_code == 200, page.text
    return post_password(browser, link, page, password, confirmation)


def totp_secret(app, staff_id: int) -> str:
    with app.app_context():
        return secret_box.decrypt(db.session.get(Staff, staff_id).totp_secret_encrypted)


def every_audit_text(app) -> str:
    with app.app_context():
        return " ".join(e.details for e in db.session.scalars(select(AuditEvent)))


# --- create with an enrolment link, end to end ---------------------------------------------------


def test_a_new_member_enrols_with_the_link_sets_up_totp_and_signs_in(app, admin, clock):
    created = create_member(admin, role="impersonator")

    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    link = link_on(created)
    assert link.startswith("http://console.localhost/enrol#")
    newcomer = member_id(app, "newcomer@staff.example")
    assert staff_row(app, newcomer).role == "impersonator"
    # The link is shown once: not on the staff list, not in the trail, not in the database.
    token = link_token(link)
    assert token not in admin.get("/admin/staff/", base_url=CONSOLE).text
    assert token not in every_audit_text(app)
    with app.app_context():
        [invite] = db.session.scalars(select(StaffInvite)).all()
        assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert invite.expires_at == clock.now() + timedelta(hours=app.config["STAFF_INVITE_HOURS"])
    assert [e["details"]["role"] for e in audit_events(app, "staff.created")][-1] == "impersonator"
    assert audit_events(app, "staff.invite_issued")[0]["target_id"] == newcomer

    invitee = app.test_client()
    page = open_link(invitee, link)
    assert page.status_code == 200
    assert "Welcome, Nina Newcomer" in page.text and "newcomer@staff.example" in page.text
    response = enrol_password(invitee, link)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/sign-in/enrol"

    enrol_page = invitee.get("/sign-in/enrol", base_url=CONSOLE)
    assert enrol_page.status_code == 200
    assert "Your password is set. Now set up your authenticator app." in enrol_page.text
    secret = totp_secret(app, newcomer)
    clock.next_totp_step()
    signed_in = submit_code(invitee, totp.code_at(secret, clock.now()), "/sign-in/enrol")
    assert signed_in.status_code == 302
    home = invitee.get("/", base_url=CONSOLE)
    assert home.status_code == 200 and "Nina Newcomer" in home.text
    [used] = audit_events(app, "staff.enrolment_link_used")
    assert used["actor_id"] == newcomer
    assert ("staff.totp_enrolled", "success") in audit_actions(app)

    # From now on the chosen password and the authenticator are the way in.
    other_browser = app.test_client()
    clock.next_totp_step()
    assert urlsplit(
        sign_in_password(other_browser, "newcomer@staff.example", PASSWORD).headers["Location"]
    ).path == ("/sign-in/code")
    assert submit_code(other_browser, totp.code_at(secret, clock.now())).status_code == 302
    assert other_browser.get("/", base_url=CONSOLE).status_code == 200


def test_i12_a_new_member_cannot_sign_in_before_using_the_link(app, admin, client, clock):
    link = link_on(create_member(admin))
    token = link_token(link)

    response = sign_in_password(client, "newcomer@staff.example", token)

    assert response.status_code == 401
    assert "Incorrect email or password." in response.text
    with app.app_context():
        stored = db.session.scalar(select(Staff.password_hash).where(Staff.email == "newcomer@staff.example"))
    assert stored.startswith("pbkdf2:") and token not in stored


def test_a_used_link_is_refused_with_410(app, admin, clock):
    link = link_on(create_member(admin))
    assert enrol_password(app.test_client(), link).status_code == 303

    later = app.test_client()
    page = open_link(later, link)
    again = later.post(
        "/enrol",
        base_url=CONSOLE,
        data={"token": link_token(link), "password": PASSWORD, "confirmation": PASSWORD},
    )

    assert page.status_code == 410
    assert "This enrolment link was already used." in page.text
    assert again.status_code in (400, 410)  # no CSRF token: refused before anything else


def test_a_used_link_posted_again_is_refused_and_audited(app, admin, clock):
    link = link_on(create_member(admin))
    browser = app.test_client()
    page = open_link(browser, link)
    assert enrol_password(app.test_client(), link).status_code == 303

    response = post_password(browser, link, page, "another long password")

    assert response.status_code == 410
    assert "already used" in response.text
    [refusal] = audit_events(app, "staff.enrolment_refused")
    assert refusal["outcome"] == "denied" and refusal["details"]["reason"] == "invite_used"


def test_an_expired_link_is_refused_with_410(app, admin, clock):
    link = link_on(create_member(admin))
    clock.advance(hours=app.config["STAFF_INVITE_HOURS"], seconds=1)

    response = open_link(app.test_client(), link)

    assert response.status_code == 410
    assert "This enrolment link has expired or was replaced by a newer one." in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/enrol/" + "A" * 43,
        "/enrol/short",
        "/enrol/" + "x" * 500,
        "/enrol/%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00",
        "/enrol/%E2%80%AEabcdefghijklmnopqrstuvwxyz",
        "/enrol/abc%2Fdef",
    ],
    ids=["forged", "short", "huge", "nul-bytes", "bidi", "slash"],
)
def test_i11_a_forged_or_mangled_link_is_a_clear_404(app, client, clock, path):
    response = client.get(path, base_url=CONSOLE)

    assert response.status_code == 404
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "token",
    ["A" * 43, "short", "x" * 500, "\x00" * 21, "\u202eabcdefghijklmnopqrstuvwxyz", "abc/def", ""],
    ids=["forged", "short", "huge", "nul-bytes", "bidi", "slash", "empty"],
)
def test_i11_a_forged_or_mangled_code_is_a_clear_404(app, client, clock, token):
    opener = client.get("/enrol", base_url=CONSOLE)

    response = client.post(
        "/enrol/open", base_url=CONSOLE, data={"csrf_token": csrf_token(opener.text), "token": token}
    )

    assert response.status_code == 404
    assert "This enrolment link is not valid." in response.text


def test_i12_the_link_keeps_its_token_out_of_every_address(app, admin, clock):
    """Issue 11 item 6: the token is in the fragment, posted in form bodies, never in a path or a
    query (which access logs and proxies keep)."""
    link = link_on(create_member(admin))
    browser = app.test_client()
    opener = browser.get(urlsplit(link).path, base_url=CONSOLE)
    assert opener.status_code == 200 and "enrol-link.js" in opener.text
    page = open_link(browser, link)

    assert 'name="token"' in page.text and 'action="/enrol"' in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert post_password(browser, link, page).status_code == 303


def test_i12_a_link_of_the_old_kind_is_cancelled_not_used(app, admin, clock):
    """`/enrol/<token>`: the token is in access logs by now, so the link is cancelled."""
    link = link_on(create_member(admin))

    response = app.test_client().get(f"/enrol/{link_token(link)}", base_url=CONSOLE)

    assert response.status_code == 410
    assert "older kind" in response.text
    [refusal] = audit_events(app, "staff.enrolment_refused")
    assert refusal["details"]["reason"] == "invite_in_address"
    assert open_link(app.test_client(), link).status_code == 410  # the admin makes a new one


def test_a_forged_link_posted_changes_nothing(app, client, clock, make_staff):
    make_staff("support", enrolled=False)
    token = csrf_token(client.get("/sign-in", base_url=CONSOLE).text)
    before = audit_actions(app)

    response = client.post(
        "/enrol",
        base_url=CONSOLE,
        data={"csrf_token": token, "token": "A" * 43, "password": PASSWORD, "confirmation": PASSWORD},
    )

    assert response.status_code == 404
    assert "This enrolment link is not valid." in response.text
    assert audit_actions(app) == before


@pytest.mark.parametrize(
    ("password", "confirmation", "message"),
    [
        ("too short", "too short", "Choose a password of at least 12 characters."),
        (PASSWORD, PASSWORD + "!", "The two passwords are not the same."),
        ("", "", "Password is required."),
        ("a" * 1025, "a" * 1025, "Password must be at most 1024 characters."),
        ("nul\x00byte password", "nul\x00byte password", "Password contains a NUL byte; please remove it."),
    ],
    ids=["short", "mismatch", "empty", "huge", "nul"],
)
def test_i11_a_bad_password_is_refused_and_the_link_still_works(
    app, admin, clock, password, confirmation, message
):
    link = link_on(create_member(admin))
    browser = app.test_client()

    response = enrol_password(browser, link, password, confirmation)

    assert response.status_code == 400
    assert html.escape(message, quote=True) in response.text or message in html.unescape(response.text)
    assert audit_events(app, "staff.enrolment_link_used") == []
    assert enrol_password(browser, link).status_code == 303


def test_a_signed_in_person_is_asked_to_sign_out_before_using_a_link(app, admin, clock):
    link = link_on(create_member(admin))

    page = open_link(admin, link)
    response = post_password(admin, link, page)

    assert page.status_code == 200 and "sign out first" in page.text
    assert response.status_code == 409
    assert audit_events(app, "staff.enrolment_link_used") == []
    assert admin.get("/", base_url=CONSOLE).status_code == 200  # still the admin, still signed in


def test_a_new_link_revokes_the_old_one(app, admin, clock):
    old = link_on(create_member(admin))
    newcomer = member_id(app, "newcomer@staff.example")

    reissued = admin_post(admin, f"/admin/staff/{newcomer}/invite", follow_redirects=True)

    assert reissued.status_code == 200
    new = link_on(reissued)
    assert new != old
    assert open_link(app.test_client(), old).status_code == 410
    assert enrol_password(app.test_client(), new).status_code == 303
    issued = audit_events(app, "staff.invite_issued")
    assert [e["details"]["revoked"] for e in issued] == [0, 1]


def test_a_reset_link_for_an_enrolled_member_sets_a_new_password_and_ends_their_sessions(
    app, admin, make_staff, clock
):
    member = make_staff("support")
    theirs = app.test_client()
    sign_in(theirs, member, clock)
    link = link_on(admin_post(admin, f"/admin/staff/{member.id}/invite", follow_redirects=True))

    browser = app.test_client()
    response = enrol_password(browser, link)

    assert urlsplit(response.headers["Location"]).path == "/sign-in/code"
    assert urlsplit(theirs.get("/", base_url=CONSOLE).headers["Location"]).path == "/sign-in"
    assert {s.end_reason for s in staff_sessions(app, member.id)} == {"password_set"}
    assert sign_in_password(app.test_client(), member.email, member.password).status_code == 401
    clock.next_totp_step()
    assert submit_code(browser, member.code()).status_code == 302
    assert browser.get("/", base_url=CONSOLE).status_code == 200


def test_a_disabled_member_gets_no_link_and_their_old_link_stops_working(app, admin, clock):
    link = link_on(create_member(admin))
    newcomer = member_id(app, "newcomer@staff.example")
    admin_post(admin, f"/admin/staff/{newcomer}/disable")

    response = admin_post(admin, f"/admin/staff/{newcomer}/invite", follow_redirects=True)

    assert "a disabled account gets no link" in flashes(response)[0]
    assert open_link(app.test_client(), link).status_code == 410


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"email": "not-an-email", "name": "X", "role": "support"},
            "Enter an email address such as name@example.com.",
        ),
        ({"email": "x@staff.example", "name": "  ", "role": "support"}, "Name is required."),
        ({"email": "x@staff.example", "name": "X", "role": "root"}, "Not a valid choice."),
        (
            {"email": "x@staff.example", "name": "X\x00", "role": "support"},
            "Name contains a NUL byte; please remove it.",
        ),
    ],
    ids=["bad-email", "no-name", "bad-role", "nul-name"],
)
def test_i11_creating_with_bad_input_is_refused_and_creates_nothing(app, admin, data, message):
    before = audit_actions(app)

    response = admin_post(admin, "/admin/staff/", data)

    assert response.status_code == 400
    assert message in html.unescape(response.text)
    assert "enrolment-link" not in response.text
    assert audit_actions(app) == before


def test_creating_a_member_with_an_email_in_use_is_refused(app, admin, admin_account):
    response = create_member(admin, email=admin_account.email.upper())

    assert response.status_code == 400
    assert flashes(response) == [f"A staff member with the email {admin_account.email} already exists."]
    assert "enrolment-link" not in response.text


def test_i11_a_members_name_is_escaped_on_the_list_and_the_link_page(app, admin):
    created = create_member(admin, name="<img src=x onerror=alert(1)>")

    assert "<img src=x" not in created.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in created.text
    assert "<img src=x" not in admin.get("/admin/staff/", base_url=CONSOLE).text


# --- the CLI ------------------------------------------------------------------------------------


def test_flask_staff_create_prints_an_enrolment_link_that_works(app, runner, clock):
    result = runner.invoke(
        args=["staff", "create", "--email", "cli@staff.example", "--name", "Cli Person", "--role", "security"]
    )

    assert result.exit_code == 0, result.output
    link = re.search(r"Enrolment link \(shown once, works once, until [^)]+\): (\S+)", result.output).group(1)
    assert link.startswith("http://console.localhost/enrol#")
    browser = app.test_client()
    response = enrol_password(browser, link)
    assert urlsplit(response.headers["Location"]).path == "/sign-in/enrol"


def test_flask_staff_invite_reissues_the_link(app, runner, make_staff, clock):
    member = make_staff("support", enrolled=False)

    result = runner.invoke(args=["staff", "invite", "--email", member.email])

    assert result.exit_code == 0, result.output
    link = result.output.strip().rsplit(" ", 1)[1]
    assert enrol_password(app.test_client(), link).status_code == 303
    unknown = runner.invoke(args=["staff", "invite", "--email", "nobody@staff.example"])
    assert unknown.exit_code != 0
    assert "No staff member with the email nobody@staff.example." in unknown.output


def test_a_link_used_twice_at_the_same_moment_sets_one_password(app, admin, clock):
    token = link_token(link_on(create_member(admin)))
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def use(password: str) -> None:
        with app.app_context():
            start.wait()
            try:
                invites.accept(token, password, password, ip=None, now=clock.now())
                outcomes.append(password)
            except invites.InviteGone:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=use, args=(f"password number {n} is long",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [outcome for outcome in outcomes if outcome != "refused"]
    assert len(outcomes) == 4 and len(winners) == 1
    assert len(audit_events(app, "staff.enrolment_link_used")) == 1
    assert sign_in_password(app.test_client(), "newcomer@staff.example", winners[0]).status_code == 302
