"""`flask staff …`, `flask seed-demo` and `flask demo-codes`: what an operator types, and what the
console then does."""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pyotp
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import Staff, Tenant, User
from tests.support.records import audit_events, staff_row, staff_sessions
from tests.support.web import CONSOLE, sign_in, sign_in_password

_INITIAL_PASSWORD = re.compile(r"Initial password \(shown once, hand it over privately\): (\S+)")
_DEMO_STAFF = re.compile(
    r"^\s+(?P<role>\w+)\s+(?P<email>\S+@impersonator\.example)\s+password: (?P<password>\S+)\n"
    r"\s+TOTP secret: (?P<secret>[A-Z2-7]+) .*\n"
    r"\s+(?P<uri>otpauth://\S+)$",
    re.M,
)


def create(runner, email: str = "new@staff.example", name: str = "New Person", role: str = "support"):
    return runner.invoke(args=["staff", "create", "--email", email, "--name", name, "--role", role])


def staff_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Staff))


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model)) for model in (Staff, Tenant, User)
        )


def location_path(response) -> str:
    return urlsplit(response.headers["Location"]).path


# --- staff create ----------------------------------------------------------------------------


def test_staff_create_prints_a_password_that_leads_to_enrolment(app, client, runner, clock):
    result = create(runner, email="New@Staff.example", role="impersonator")

    assert result.exit_code == 0, result.output
    assert "Created New Person <new@staff.example> as impersonator." in result.output
    password = _INITIAL_PASSWORD.search(result.output).group(1)
    response = sign_in_password(client, "new@staff.example", password)
    assert location_path(response) == "/sign-in/enrol"
    [event] = audit_events(app, "staff.created")
    assert event["actor_label"] == "cli"
    assert event["details"]["role"] == "impersonator"


def test_staff_create_refuses_a_duplicate_email(app, runner, clock):
    assert create(runner).exit_code == 0

    result = create(runner, email="NEW@staff.example", name="Someone Else")

    assert result.exit_code != 0
    assert "A staff member with the email new@staff.example already exists." in result.output
    assert staff_count(app) == 1


def test_staff_create_refuses_an_unknown_role(app, runner, clock):
    result = create(runner, role="superuser")

    assert result.exit_code != 0
    assert "Invalid value for '--role'" in result.output
    assert staff_count(app) == 0


def test_staff_create_refuses_a_bad_email(app, runner, clock):
    result = create(runner, email="not-an-email")

    assert result.exit_code != 0
    assert "Enter an email address such as name@example.com." in result.output
    assert staff_count(app) == 0


def test_staff_create_refuses_an_empty_name(app, runner, clock):
    result = create(runner, name="   ")

    assert result.exit_code != 0
    assert "Name is required." in result.output
    assert staff_count(app) == 0


# --- staff disable / reset-totp / list -------------------------------------------------------


def test_staff_disable_turns_the_account_off(app, client, runner, make_staff, clock):
    member = make_staff("support")

    result = runner.invoke(args=["staff", "disable", "--email", member.email])

    assert result.exit_code == 0, result.output
    assert f"Disabled {member.email}" in result.output
    assert not staff_row(app, member.id).active
    assert audit_events(app, "staff.disabled")[0]["actor_label"] == "cli"
    assert sign_in_password(client, member.email, member.password).status_code == 401


def test_staff_disable_of_an_unknown_email_fails_clearly(app, runner, clock):
    result = runner.invoke(args=["staff", "disable", "--email", "nobody@staff.example"])

    assert result.exit_code != 0
    assert "No staff member with the email nobody@staff.example." in result.output


def test_staff_reset_totp_ends_sessions_and_asks_for_enrolment_again(app, client, runner, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)

    result = runner.invoke(args=["staff", "reset-totp", "--email", member.email])

    assert result.exit_code == 0, result.output
    assert location_path(client.get("/", base_url=CONSOLE)) == "/sign-in"
    assert staff_sessions(app, member.id)[0].end_reason == "totp_reset"
    assert not staff_row(app, member.id).totp_enrolled
    assert len(audit_events(app, "staff.totp_reset")) == 1
    response = sign_in_password(client, member.email, member.password)
    assert location_path(response) == "/sign-in/enrol"


def test_staff_list_shows_every_member(app, runner, make_staff, clock):
    assert "No staff members yet" in runner.invoke(args=["staff", "list"]).output
    admin = make_staff("admin")
    newcomer = make_staff("support", enrolled=False)
    runner.invoke(args=["staff", "disable", "--email", newcomer.email])

    result = runner.invoke(args=["staff", "list"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert re.search(
        rf"^{re.escape(admin.email)}\s+admin\s+active\s+totp\s+Admin Person$", result.output, re.M
    )
    assert re.search(
        rf"^{re.escape(newcomer.email)}\s+support\s+disabled\s+no totp yet\s+Support Person$",
        result.output,
        re.M,
    )


# --- seed-demo -------------------------------------------------------------------------------


def test_seed_demo_is_idempotent_and_prints_the_demo_staff(app, runner, clock):
    first = runner.invoke(args=["seed-demo"])
    after_first = counts(app)
    second = runner.invoke(args=["seed-demo"])

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert after_first == counts(app) == (4, 2, 5)
    printed = [match.groupdict() for match in _DEMO_STAFF.finditer(first.output)]
    assert [row["role"] for row in printed] == ["support", "impersonator", "security", "admin"]
    assert all(row["uri"].startswith("otpauth://totp/") for row in printed)
    assert all(f"secret={row['secret']}" in row["uri"] for row in printed)
    assert [match.groupdict() for match in _DEMO_STAFF.finditer(second.output)] == printed


def test_seed_demo_sign_in_works(app, client, runner, clock):
    output = runner.invoke(args=["seed-demo"]).output
    admin = next(m for m in _DEMO_STAFF.finditer(output) if m["role"] == "admin")

    sign_in(
        client,
        SimpleNamespace(email=admin["email"], password=admin["password"], secret=admin["secret"]),
        clock,
    )

    page = client.get("/", base_url=CONSOLE)
    assert page.status_code == 200
    assert "Ada Admin" in page.text


def test_seed_demo_refuses_in_production(make_app, clock):
    app = make_app(ENV_NAME="production")

    result = app.test_cli_runner().invoke(args=["seed-demo"])

    assert result.exit_code != 0
    assert "seed-demo only runs in development" in result.output
    assert counts(app) == (0, 0, 0)


# --- demo-codes ------------------------------------------------------------------------------

_DEMO_CODES = re.compile(
    r"^\s+(?P<role>\w+)\s+(?P<email>\S+)\s+now (?P<now>\d{6})\s+next (?P<next>\d{6})$", re.M
)


def test_demo_codes_prints_each_demo_staff_members_code_now_and_next(app, runner, clock):
    seeded = {m["role"]: m["secret"] for m in _DEMO_STAFF.finditer(runner.invoke(args=["seed-demo"]).output)}
    clock.advance(seconds=-(int(clock.now().timestamp()) % 30) + 12)  # 12 s into a step: 18 s left

    result = runner.invoke(args=["demo-codes"])

    assert result.exit_code == 0, result.output
    assert "'now' for 18 more seconds" in result.output
    rows = [m.groupdict() for m in _DEMO_CODES.finditer(result.output)]
    assert [row["role"] for row in rows] == ["support", "impersonator", "security", "admin"]
    for row in rows:
        totp = pyotp.TOTP(seeded[row["role"]])
        assert row["now"] == totp.at(clock.now())
        assert row["next"] == totp.at(clock.now().timestamp() + 30)


def test_demo_codes_before_the_seed_says_what_to_do(app, runner, clock):
    result = runner.invoke(args=["demo-codes"])

    assert result.exit_code != 0
    assert "run `make run` first" in result.output


def test_demo_codes_refuses_in_production(make_app, clock):
    result = make_app(ENV_NAME="production").test_cli_runner().invoke(args=["demo-codes"])

    assert result.exit_code != 0
    assert "demo-codes only runs in development" in result.output
