"""I11: bad input gets a clear 4xx, never a 500, and nothing half-written; all user text is escaped."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import Staff, StaffSession, User
from impersonator.services import secret_box
from impersonator.services.audit import Actor
from impersonator.services.staff import totp
from impersonator.services.staff.accounts import create_staff
from tests.support.records import audit_actions
from tests.support.web import ACME, CONSOLE, csrf_token, post_form, sign_in, sign_in_customer
from tests.web.conftest import Bed, password_step

SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
GENERIC_FAILURE = "Incorrect email or password."
CODE_HELP = "Enter the 6-digit code from your authenticator app."
RELOAD_HELP = "This form has expired or was not sent from this site. Reload the page and try again."
# Digits that \d matches but a TOTP code must not contain (U+FF10… and U+0660…).
FULL_WIDTH = {ord("0") + i: 0xFF10 + i for i in range(10)}
ARABIC_INDIC = {ord("0") + i: 0x0660 + i for i in range(10)}


@dataclass
class FilledForm:
    """A form of one face, filled in with values that would be accepted."""

    face: str
    base_url: str
    path: str
    data: dict[str, str]
    staff_id: int | None = None


def console_sign_in(bed: Bed) -> FilledForm:
    member = bed.make_staff("support")
    data = {"email": member.email, "password": member.password}
    return FilledForm("console", CONSOLE, "/sign-in", data, member.id)


def totp_form(bed: Bed) -> FilledForm:
    member = bed.make_staff("support")
    password_step(bed, member)
    return FilledForm("console", CONSOLE, "/sign-in/code", {"code": member.code()}, member.id)


def enrolment_form(bed: Bed) -> FilledForm:
    member = bed.make_staff("support", enrolled=False)
    password_step(bed, member)
    assert bed.client.get("/sign-in/enrol", base_url=CONSOLE).status_code == 200
    with bed.app.app_context():
        secret = secret_box.decrypt(db.session.get(Staff, member.id).totp_secret_encrypted)
    return FilledForm(
        "console", CONSOLE, "/sign-in/enrol", {"code": totp.code_at(secret, bed.clock.now())}, member.id
    )


def tenant_sign_in(bed: Bed) -> FilledForm:
    return FilledForm(
        "tenant", ACME, "/sign-in", {"email": "alice@acme.example", "password": "customer password"}
    )


FORMS = {
    "console sign-in": console_sign_in,
    "TOTP": totp_form,
    "enrolment": enrolment_form,
    "tenant sign-in": tenant_sign_in,
}

# (what is sent instead of the good value, the status, and the sentence that says what to fix)
EMAIL_CASES = {
    "empty": (lambda good: "", 400, "Email is required."),
    "10,000 characters": (lambda good: "a" * 10_000, 400, "Email must be at most 254 characters."),
    "NUL byte": (
        lambda good: good.replace("@", "\x00@"),
        400,
        "Email contains a NUL byte; please remove it.",
    ),
    "bidi override": (
        lambda good: "\u202e" + good,
        400,
        "Email contains a text-direction control character; please remove it.",
    ),
    "percent-encoded invalid UTF-8": (lambda good: "%FF%FE" + good, 401, GENERIC_FAILURE),
}
PASSWORD_CASES = {
    "empty": (lambda good: "", 400, "Password is required."),
    "10,000 characters": (lambda good: "p" * 10_000, 400, "Password must be at most 1024 characters."),
    "NUL byte": (lambda good: good + "\x00", 400, "Password contains a NUL byte; please remove it."),
    # A password is taken as typed: an odd character makes it a wrong password, not a bad form.
    "bidi override": (lambda good: "\u202e" + good, 401, GENERIC_FAILURE),
    "percent-encoded invalid UTF-8": (lambda good: "%FF%FE" + good, 401, GENERIC_FAILURE),
}
CODE_CASES = {
    "empty": (lambda good: "", 400, CODE_HELP),
    "10,000 characters": (lambda good: "1" * 10_000, 400, CODE_HELP),
    "NUL byte": (lambda good: good[:3] + "\x00" + good[3:], 400, CODE_HELP),
    "bidi override": (lambda good: "\u202e" + good, 400, CODE_HELP),
    "percent-encoded invalid UTF-8": (lambda good: "%FF%FE" + good, 400, CODE_HELP),
    "full-width digits": (lambda good: good.translate(FULL_WIDTH), 400, CODE_HELP),
    "Arabic-Indic digits": (
        lambda good: good.translate(ARABIC_INDIC),
        400,
        CODE_HELP,
    ),
}
FIELD_CASES = {"email": EMAIL_CASES, "password": PASSWORD_CASES, "code": CODE_CASES}

CASES = [
    pytest.param(form, field_name, kind, id=f"{form}-{field_name}-{kind}")
    for form, fields in {
        "console sign-in": ("email", "password"),
        "TOTP": ("code",),
        "enrolment": ("code",),
        "tenant sign-in": ("email", "password"),
    }.items()
    for field_name in fields
    for kind in FIELD_CASES[field_name]
]


def written(app) -> dict:
    """What a refused sign-in form must never leave behind."""
    with app.app_context():
        return {
            "staff sessions": db.session.scalar(select(func.count()).select_from(StaffSession)),
            "staff": [
                (s.id, s.totp_enrolled_at, s.totp_last_step, s.last_sign_in_at)
                for s in db.session.scalars(select(Staff).order_by(Staff.id))
            ],
            "customers": [
                (u.id, u.last_sign_in_at) for u in db.session.scalars(select(User).order_by(User.id))
            ],
        }


def assert_nothing_half_written(bed: Bed, form: FilledForm, before: dict, audit_before: list) -> None:
    assert written(bed.app) == before
    new_audit = {action for action, _ in audit_actions(bed.app)[len(audit_before) :]}
    allowed = {"staff.sign_in_failed"} if form.face == "console" else set()
    assert new_audit <= allowed
    home = bed.client.get("/", base_url=form.base_url)
    assert home.status_code == 302
    assert urlsplit(home.headers["Location"]).path == "/sign-in"


@pytest.mark.parametrize(("form_name", "field_name", "kind"), CASES)
def test_i11_bad_input_gets_a_clear_4xx_and_nothing_half_written(bed, form_name, field_name, kind):
    form = FORMS[form_name](bed)
    bad_value, status, help_text = FIELD_CASES[field_name][kind]
    token = csrf_token(bed.client.get(form.path, base_url=form.base_url).text)
    before, audit_before = written(bed.app), audit_actions(bed.app)
    data = {**form.data, field_name: bad_value(form.data[field_name])}
    body = "&".join(
        f"{name}={value if kind.startswith('percent') and name == field_name else quote(value)}"
        for name, value in {"csrf_token": token, **data}.items()
    )

    response = bed.client.post(
        form.path, base_url=form.base_url, data=body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == status
    assert help_text in response.text
    if status == 400 and field_name != "code":
        # A form error is shown at the field it is about.
        assert f'id="{field_name}-error">{help_text}</p>' in response.text
    assert_nothing_half_written(bed, form, before, audit_before)


@pytest.mark.parametrize(
    ("form_name", "field_name"),
    [
        (form, field_name)
        for form, fields in {
            "console sign-in": ("email", "password"),
            "TOTP": ("code",),
            "enrolment": ("code",),
            "tenant sign-in": ("email", "password"),
        }.items()
        for field_name in fields
    ],
)
def test_i11_invalid_utf8_bytes_sent_raw_get_a_4xx(bed, form_name, field_name):
    form = FORMS[form_name](bed)
    token = csrf_token(bed.client.get(form.path, base_url=form.base_url).text)
    before, audit_before = written(bed.app), audit_actions(bed.app)
    others = {name: value for name, value in form.data.items() if name != field_name}
    body = urlencode({"csrf_token": token, **others}).encode() + f"&{field_name}=".encode() + b"\xff\xfe\xc3("

    response = bed.client.post(
        form.path, base_url=form.base_url, data=body, content_type="application/x-www-form-urlencoded"
    )

    # A body that is not UTF-8 cannot be read at all, so the form (and its token) is refused whole.
    assert response.status_code == 400
    assert RELOAD_HELP in response.text
    assert "Traceback" not in response.text
    assert_nothing_half_written(bed, form, before, audit_before)


def test_i11_the_right_code_in_full_width_digits_does_not_sign_in(bed):
    form = totp_form(bed)

    response = post_form(
        bed.client, CONSOLE, form.path, form.path, {"code": form.data["code"].translate(FULL_WIDTH)}
    )

    assert response.status_code == 400
    assert CODE_HELP in response.text
    with bed.app.app_context():
        assert db.session.get(Staff, form.staff_id).totp_last_step is None
    # The code itself is still good: the refusal did not burn its time step.
    response = post_form(bed.client, CONSOLE, form.path, form.path, {"code": form.data["code"]})
    assert response.status_code == 302


# --- escaping -------------------------------------------------------------------------------------


def rename_staff(app, staff_id: int, name: str) -> None:
    with app.app_context():
        db.session.get(Staff, staff_id).name = name
        db.session.commit()


def test_i11_a_staff_name_is_escaped_on_the_home_page_and_the_staff_list(app, client, make_staff, clock):
    admin = make_staff("admin")
    rename_staff(app, admin.id, SCRIPT)
    with app.app_context():
        victim, _ = create_staff(
            email="victim@staff.example",
            name=f'"><img src=x onerror=alert(2)>{SCRIPT}',
            role="support",
            actor=Actor.system("test"),
            now=clock.now(),
        )
        victim_id = victim.id
    sign_in(client, admin, clock)

    home = client.get("/", base_url=CONSOLE).text
    staff_list = client.get("/admin/staff/", base_url=CONSOLE).text
    disabled = client.post(
        f"/admin/staff/{victim_id}/disable",
        base_url=CONSOLE,
        data={"csrf_token": csrf_token(staff_list)},
        follow_redirects=True,
    ).text

    for page in (home, staff_list, disabled):
        assert SCRIPT not in page
        assert "<img" not in page
        assert f"<span>{ESCAPED_SCRIPT} · admin</span>" in page  # the header
    assert f"Welcome, {ESCAPED_SCRIPT}" in home
    assert f"<td>&#34;&gt;&lt;img src=x onerror=alert(2)&gt;{ESCAPED_SCRIPT}</td>" in staff_list
    assert f"&lt;img src=x onerror=alert(2)&gt;{ESCAPED_SCRIPT} is disabled" in disabled


def test_i11_a_customer_name_is_escaped_on_the_tenant_pages(app, client, tenants):
    with app.app_context():
        alice = db.session.scalar(select(User).where(User.email == "alice@acme.example"))
        alice.name = SCRIPT
        db.session.commit()
    sign_in_customer(client, ACME, "alice@acme.example", "customer password")

    home = client.get("/", base_url=ACME).text

    assert SCRIPT not in home
    assert f"Hello, {ESCAPED_SCRIPT}" in home


# --- odd query strings -----------------------------------------------------------------------------

ODD_QUERIES = {
    "NUL in next": "next=%00",
    "NUL path in next": "next=/%00admin",
    "huge next": "next=/" + "a" * 100_000,
    "invalid UTF-8 in next": "next=/%FF%FE",
    "bidi in next": "next=/%E2%80%AEadmin",
    "NUL elsewhere": "q=%00&next=/",
    "raw huge query": "q=" + "x" * 100_000,
}


@pytest.mark.parametrize("query", ODD_QUERIES.values(), ids=list(ODD_QUERIES))
@pytest.mark.parametrize("base_url", [CONSOLE, ACME])
def test_i11_odd_query_strings_on_sign_in_pages_do_not_error(client, tenants, base_url, query):
    response = client.get(f"/sign-in?{query}", base_url=base_url)

    assert response.status_code == 200
    assert "\x00" not in response.text
    assert "a" * 3000 not in response.text


@pytest.mark.parametrize("query", ODD_QUERIES.values(), ids=list(ODD_QUERIES))
def test_i11_odd_query_strings_on_a_protected_page_lead_to_sign_in(client, query):
    response = client.get(f"/admin/staff/?{query}", base_url=CONSOLE)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert client.get(response.headers["Location"], base_url=CONSOLE).status_code == 200


@pytest.mark.parametrize("next_value", ["/%00", "/" + "a" * 100_000, "/\u202eadmin", "//evil.example/"])
def test_i11_an_unusable_next_leads_home_after_sign_in(client, make_staff, clock, next_value):
    member = make_staff("support")
    clock.next_totp_step()
    query = "next=" + (next_value if "%" in next_value else quote(next_value))
    page = client.get(f"/sign-in?{query}", base_url=CONSOLE)

    response = client.post(
        f"/sign-in?{query}",
        base_url=CONSOLE,
        data={"csrf_token": csrf_token(page.text), "email": member.email, "password": member.password},
    )
    assert response.status_code == 302
    response = post_form(client, CONSOLE, "/sign-in/code", "/sign-in/code", {"code": member.code()})

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"


def test_i11_a_next_that_sign_in_would_refuse_is_not_carried_to_it(client):
    long_query = "q=" + "a" * 3000
    response = client.get(f"/search?{long_query}", base_url=CONSOLE)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.path, location.query) == ("/sign-in", "")
    response = client.get("/search?q=alice", base_url=CONSOLE)
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {"next": ["/search?q=alice"]}


def test_i11_a_nul_byte_in_the_path_is_a_404(client, tenants):
    for base_url in (CONSOLE, ACME):
        assert client.get("/%00", base_url=base_url).status_code == 404
        assert client.get("/admin/staff/%00", base_url=base_url).status_code == 404


def test_i11_a_signed_in_page_ignores_odd_query_strings(client, make_staff, clock):
    sign_in(client, make_staff("admin"), clock)

    for query in ODD_QUERIES.values():  # parameters the page does not read (the staff list reads q)
        assert client.get(f"/admin/webhooks/?{query}", base_url=CONSOLE).status_code == 200


def test_i11_the_next_parameter_survives_an_odd_query_only_as_a_path(client):
    response = client.get("/admin/staff/?q=%00", base_url=CONSOLE)

    (next_path,) = parse_qs(urlsplit(response.headers["Location"]).query)["next"]
    assert next_path.startswith("/admin/staff/?q=")
