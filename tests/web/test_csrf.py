"""I11: every state change is a POST with a CSRF token; without one (or with a stranger's) nothing happens.

Each POST rule of both faces has a case below that signs in whoever the form needs and posts data that
*would* change something, so the 400 proves the CSRF check, not a missing sign-in or a bad form.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from impersonator.extensions import csrf, db
from impersonator.models import GhostRequest, Impersonation, Project, Staff, StaffSession, User
from impersonator.services import secret_box
from impersonator.services.staff import totp
from tests.support.impersonation import (
    JUSTIFICATION,
    REDEEM_PATH,
    launch,
    launch_and_redeem,
    minutes,
    opt_in,
    the_impersonation,
    user_id,
)
from tests.support.web import ACME, CONSOLE, csrf_token, sign_in, sign_in_customer
from tests.web.cases import Case, admin, api_keys, approvals, audit, customer_settings, masking
from tests.web.conftest import Bed, password_step

REFUSAL = "This form has expired or was not sent from this site"


def console_sign_in(bed: Bed) -> Case:
    member = bed.make_staff("support")
    bed.clock.next_totp_step()
    return Case(CONSOLE, "/sign-in", "/sign-in", {"email": member.email, "password": member.password})


def console_code(bed: Bed) -> Case:
    member = bed.make_staff("support")
    password_step(bed, member)
    return Case(CONSOLE, "/sign-in/code", "/sign-in/code", {"code": member.code()})


def console_enrol(bed: Bed) -> Case:
    member = bed.make_staff("support", enrolled=False)
    password_step(bed, member)
    assert bed.client.get("/sign-in/enrol", base_url=CONSOLE).status_code == 200
    with bed.app.app_context():
        secret = secret_box.decrypt(db.session.get(Staff, member.id).totp_secret_encrypted)
    return Case(CONSOLE, "/sign-in/enrol", "/sign-in/enrol", {"code": totp.code_at(secret, bed.clock.now())})


def console_sign_out(bed: Bed) -> Case:
    sign_in(bed.client, bed.make_staff("support"), bed.clock)
    return Case(CONSOLE, "/sign-out", "/")


def staff_action(action: str) -> Callable[[Bed], Case]:
    def build(bed: Bed) -> Case:
        target = bed.make_staff("support")
        sign_in(bed.client, bed.make_staff("admin"), bed.clock)
        return Case(CONSOLE, f"/admin/staff/{target.id}/{action}", "/", accepted_status=303)

    return build


def customer_sign_in(bed: Bed) -> Case:
    data = {"email": "alice@acme.example", "password": "customer password"}
    return Case(ACME, "/sign-in", "/sign-in", data, accepted_status=303)


def customer_sign_out(bed: Bed) -> Case:
    assert sign_in_customer(bed.client, ACME, "alice@acme.example", "customer password").status_code == 303
    return Case(ACME, "/sign-out", "/", accepted_status=303)


def opted_in_alice(bed: Bed) -> int:
    alice = user_id(bed.app, "alice@acme.example")
    opt_in(bed.app, alice, bed.clock.now() + minutes(60))
    return alice


def console_impersonate(bed: Bed) -> Case:
    alice = opted_in_alice(bed)
    member = bed.make_staff("support")
    sign_in(bed.client, member, bed.clock)
    bed.clock.next_totp_step()
    data = {"justification": JUSTIFICATION, "duration": "60", "mode": "read_only", "totp_code": member.code()}
    return Case(CONSOLE, f"/users/{alice}/impersonate", f"/users/{alice}", data, accepted_status=303)


def console_end_impersonation(bed: Bed) -> Case:
    alice = opted_in_alice(bed)
    member = bed.make_staff("support")
    sign_in(bed.client, member, bed.clock)
    launch(bed.client, member, bed.clock, alice)
    path = f"/impersonations/{the_impersonation(bed.app).id}/end"
    return Case(CONSOLE, path, "/impersonations/mine", accepted_status=303)


def ghost_end(bed: Bed) -> Case:
    alice = opted_in_alice(bed)
    member = bed.make_staff("support")
    sign_in(bed.client, member, bed.clock)
    assert launch_and_redeem(bed.client, member, bed.clock, alice).redeemed.status_code == 303
    return Case(ACME, "/impersonation/end", "/", accepted_status=303)


def customer_action(path: str, data: dict) -> Callable[[Bed], Case]:
    """A signed-in customer's POST on the tenant app (projects, account)."""

    def build(bed: Bed) -> Case:
        assert (
            sign_in_customer(bed.client, ACME, "alice@acme.example", "customer password").status_code == 303
        )
        return Case(ACME, path, "/account" if path.startswith("/account") else "/", data, accepted_status=303)

    return build


def customer_rename_project(bed: Bed) -> Case:
    assert sign_in_customer(bed.client, ACME, "alice@acme.example", "customer password").status_code == 303
    page = bed.client.get("/", base_url=ACME)
    bed.client.post("/projects", base_url=ACME, data={"csrf_token": csrf_token(page.text), "name": "Roadmap"})
    with bed.app.app_context():
        project_id = db.session.scalar(select(Project.id))
    return Case(ACME, f"/projects/{project_id}/rename", "/", {"name": "Roadmap 2"}, accepted_status=303)


# The one POST without a CSRF token: the one-time token it carries is the credential (DESIGN I11).
# The API is authenticated by a bearer key that no cross-site page can attach (tests/web/test_api_auth.py).
CSRF_EXEMPT = {("tenant", "impersonation.redeem"), ("console", "api.terminate_session")}

CASES: dict[tuple[str, str], Callable[[Bed], Case]] = {
    ("console", "sign_in.submit"): console_sign_in,
    ("console", "sign_in.code"): console_code,
    ("console", "sign_in.enrol"): console_enrol,
    ("console", "sign_in.sign_out"): console_sign_out,
    ("console", "staff_admin.disable"): staff_action("disable"),
    ("console", "staff_admin.reset_totp"): staff_action("reset-totp"),
    ("console", "users.impersonate"): console_impersonate,
    ("console", "impersonations.end"): console_end_impersonation,
    ("tenant", "impersonation.end"): ghost_end,
    ("tenant", "customer_sign_in.submit"): customer_sign_in,
    ("tenant", "customer_sign_in.sign_out"): customer_sign_out,
    ("tenant", "tenant_home.create_project"): customer_action("/projects", {"name": "Launch plan"}),
    ("tenant", "tenant_home.rename_project"): customer_rename_project,
    ("tenant", "account.change_name"): customer_action("/account/name", {"name": "Alice A."}),
    ("tenant", "account.change_email"): customer_action(
        "/account/email",
        {"email-email": "alice.new@acme.example", "email-current_password": "customer password"},
    ),
    ("tenant", "account.change_password"): customer_action(
        "/account/password",
        {
            "password-current_password": "customer password",
            "password-new_password": "a brand new long password",
            "password-confirm_password": "a brand new long password",
        },
    ),
    **customer_settings.CSRF_CASES,
    **audit.CSRF_CASES,
    **admin.CSRF_CASES,
    **api_keys.CSRF_CASES,
    **approvals.CSRF_CASES,
    **masking.CSRF_CASES,
}


def snapshot(app) -> dict:
    """Everything a POST of these forms could write: the rows of every table, and what changes in place.
    The ghost's request log is left out: it records requests (these checks make some), not changes."""
    with app.app_context():
        return {
            "rows": {
                table.name: db.session.scalar(select(func.count()).select_from(table))
                for table in db.metadata.sorted_tables
                if table is not GhostRequest.__table__
            },
            "staff sessions": [(s.id, s.ended_at) for s in db.session.scalars(select(StaffSession))],
            "staff": [
                (
                    s.id,
                    s.active,
                    s.totp_enrolled_at,
                    s.totp_secret_encrypted,
                    s.totp_last_step,
                    s.last_sign_in_at,
                )
                for s in db.session.scalars(select(Staff).order_by(Staff.id))
            ],
            "customers": [
                (u.id, u.last_sign_in_at) for u in db.session.scalars(select(User).order_by(User.id))
            ],
            "impersonations": [
                (i.id, i.redeemed_at, i.ended_at)
                for i in db.session.scalars(select(Impersonation).order_by(Impersonation.id))
            ],
        }


def signed_in_somewhere(client) -> tuple[int, int]:
    """The status of each face's home page: 200 when signed in there, 302 to sign-in otherwise."""
    return client.get("/", base_url=CONSOLE).status_code, client.get("/", base_url=ACME).status_code


def post_rules(face_app) -> set[str]:
    return {rule.endpoint for rule in face_app.url_map.iter_rules() if "POST" in rule.methods}


def test_i11_every_post_rule_of_both_faces_has_a_csrf_case(app, tenant_app):
    rules = {("console", e) for e in post_rules(app)} | {("tenant", e) for e in post_rules(tenant_app)}

    assert rules == set(CASES) | CSRF_EXEMPT


def exempt_rules(face: str, face_app) -> set[tuple[str, str]]:
    """The POST rules of a face that Flask-WTF lets through without a token."""
    exempt = set()
    for rule in face_app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        host = CONSOLE if face == "console" else ACME
        with face_app.test_request_context(path, method="POST", base_url=host):
            if csrf._is_exempt():
                exempt.add((face, rule.endpoint))
    return exempt


def test_i11_token_redemption_is_the_only_csrf_exempt_post(app, tenant_app):
    assert exempt_rules("console", app) | exempt_rules("tenant", tenant_app) == CSRF_EXEMPT


def test_i11_token_redemption_goes_through_without_a_csrf_token(bed):
    alice = opted_in_alice(bed)
    member = bed.make_staff("support")
    sign_in(bed.client, member, bed.clock)
    _, token = launch(bed.client, member, bed.clock, alice)

    response = bed.app.test_client().post(REDEEM_PATH, base_url=ACME, data={"token": token})

    assert response.status_code == 303
    assert the_impersonation(bed.app).redeemed_at is not None


@pytest.mark.parametrize("case", CASES.values(), ids=[endpoint for _, endpoint in CASES])
def test_i11_a_post_without_csrf_token_is_refused_and_changes_nothing(bed, case):
    post = case(bed)
    before, signed_in = snapshot(bed.app), signed_in_somewhere(bed.client)

    response = bed.client.post(post.path, base_url=post.base_url, data=post.data)

    assert response.status_code == 400
    assert REFUSAL in response.text
    assert snapshot(bed.app) == before
    assert signed_in_somewhere(bed.client) == signed_in


@pytest.mark.parametrize("case", CASES.values(), ids=[endpoint for _, endpoint in CASES])
def test_i11_a_csrf_token_of_another_session_is_refused(bed, case):
    post = case(bed)
    stranger = bed.app.test_client()
    foreign_token = csrf_token(stranger.get("/sign-in", base_url=post.base_url).text)
    before, signed_in = snapshot(bed.app), signed_in_somewhere(bed.client)

    response = bed.client.post(
        post.path, base_url=post.base_url, data={"csrf_token": foreign_token, **post.data}
    )

    assert response.status_code == 400
    assert REFUSAL in response.text
    assert snapshot(bed.app) == before
    assert signed_in_somewhere(bed.client) == signed_in


@pytest.mark.parametrize("case", CASES.values(), ids=[endpoint for _, endpoint in CASES])
def test_i11_the_same_post_with_its_own_token_goes_through(bed, case):
    """The control: what the two tests above send is a request that would otherwise succeed."""
    post = case(bed)
    token = csrf_token(bed.client.get(post.token_page, base_url=post.base_url).text)

    response = bed.client.post(post.path, base_url=post.base_url, data={"csrf_token": token, **post.data})

    assert response.status_code == post.accepted_status, response.text


def test_i11_a_console_token_is_refused_on_a_tenant_domain(bed):
    token = csrf_token(bed.client.get("/sign-in", base_url=CONSOLE).text)

    response = bed.client.post(
        "/sign-in",
        base_url=ACME,
        data={"csrf_token": token, "email": "alice@acme.example", "password": "customer password"},
    )

    assert response.status_code == 400
    assert REFUSAL in response.text


def test_i11_an_expired_csrf_token_is_refused(bed):
    token = csrf_token(bed.client.get("/sign-in", base_url=ACME).text)
    bed.clock.advance(seconds=bed.app.config["WTF_CSRF_TIME_LIMIT"] + 1)
    before = snapshot(bed.app)

    response = bed.client.post(
        "/sign-in",
        base_url=ACME,
        data={"csrf_token": token, "email": "alice@acme.example", "password": "customer password"},
    )

    assert response.status_code == 400
    assert REFUSAL in response.text
    assert snapshot(bed.app) == before
