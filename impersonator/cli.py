"""`flask …` commands: staff management, the demo seed and the global switch (the audit chain and
the outbox worker are in cli_oversight.py)."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from impersonator import cli_act_keys, cli_oversight, clock
from impersonator.models import ROLES
from impersonator.services import demo
from impersonator.services.admin import settings, switches
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import sweep
from impersonator.services.staff import accounts as staff_admin
from impersonator.services.staff import directory, invites, totp

CLI_ACTOR = Actor.system("cli")


def register(app: Flask) -> None:
    app.cli.add_command(staff)
    app.cli.add_command(seed_demo)
    app.cli.add_command(demo_codes)
    app.cli.add_command(impersonation)
    app.cli.add_command(cli_oversight.audit)
    app.cli.add_command(cli_oversight.outbox_group)
    app.cli.add_command(cli_act_keys.act_keys)


def _fail(problem: DomainError) -> None:
    raise click.ClickException(problem.message)


@click.group(cls=AppGroup)
def staff() -> None:
    """Manage staff accounts."""


@staff.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
def staff_create(email: str, name: str, role: str) -> None:
    """Create a staff member; print a one-time enrolment link and an initial password."""
    now = clock.now()
    try:
        member, password = staff_admin.create_staff(
            email=email, name=name, role=role, actor=CLI_ACTOR, now=now
        )
        issued = invites.issue(member, actor=CLI_ACTOR, ip=None, now=now)
    except DomainError as problem:
        _fail(problem)
    expires = issued.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"Created {member.name} <{member.email}> as {member.role}.")
    click.echo(f"Enrolment link (shown once, works once, until {expires}): {issued.url}")
    click.echo("With it they choose their own password, then set up an authenticator app.")
    click.echo(f"Initial password (shown once, hand it over privately): {password}")
    click.echo("Or they sign in at the console with this password and set up an authenticator app.")
    click.echo("Hand over one of the two, privately.")


@staff.command("invite")
@click.option("--email", required=True)
def staff_invite(email: str) -> None:
    """Print a new one-time enrolment link for a staff member (older links stop working)."""
    try:
        member = staff_admin.find_staff(email)
        issued = invites.issue(member, actor=CLI_ACTOR, ip=None, now=clock.now())
    except DomainError as problem:
        _fail(problem)
    expires = issued.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"Enrolment link for {member.email} (shown once, works once, until {expires}): {issued.url}")


@staff.command("disable")
@click.option("--email", required=True)
def staff_disable(email: str) -> None:
    """Disable a staff member and end all their sessions."""
    try:
        member = staff_admin.find_staff(email)
        staff_admin.disable_staff(member, actor=CLI_ACTOR, ip=None, now=clock.now())
    except DomainError as problem:
        _fail(problem)
    click.echo(f"Disabled {member.email}; their sessions are ended.")


@staff.command("reset-totp")
@click.option("--email", required=True)
def staff_reset_totp(email: str) -> None:
    """Forget a staff member's authenticator; they enrol again at the next sign-in."""
    try:
        member = staff_admin.find_staff(email)
        staff_admin.reset_totp(member, actor=CLI_ACTOR, ip=None, now=clock.now())
    except DomainError as problem:
        _fail(problem)
    click.echo(
        f"Reset the authenticator of {member.email}; they enrol again at the next sign-in. Their console"
        " sessions and any impersonations they had open have ended."
    )


@staff.command("list")
def staff_list() -> None:
    """List staff members."""
    rows = directory.list_staff()
    if not rows:
        click.echo("No staff members yet. Create one with: flask staff create --email … --name … --role …")
        return
    for member in rows:
        state = "active" if member.active else "disabled"
        enrolled = "totp" if member.totp_enrolled else "no totp yet"
        click.echo(f"{member.email:40} {member.role:13} {state:9} {enrolled:12} {member.name}")


def _development_only(command: str) -> None:
    if current_app.config["ENV_NAME"] not in ("development", "testing"):
        raise click.ClickException(f"{command} only runs in development (IMPERSONATOR_ENV=development).")


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create demo tenants, customers and staff (development only) and print the sign-ins."""
    _development_only("seed-demo")
    config = current_app.config
    now = clock.now()
    accounts = demo.seed_demo(now=now, issuer=config["TOTP_ISSUER"])
    port = f":{config['PUBLIC_PORT']}" if config["PUBLIC_PORT"] else ""
    scheme = config["PUBLIC_SCHEME"]
    click.echo("")
    click.echo(f"Console:  {scheme}://{config['CONSOLE_HOST']}{port}/")
    click.echo(
        f"Tenants:  {scheme}://acme.localhost{port}/  {scheme}://globex.localhost{port}/"
        f"  (customers: alice@acme.example, gina@globex.example … password "
        f"{demo.CUSTOMER_PASSWORD})"
    )
    click.echo("")
    click.echo("Demo staff (password, then the 6-digit code from an authenticator app):")
    for account in accounts:
        click.echo(f"  {account.role:13} {account.email:34} password: {account.password}")
        if account.totp_secret:
            click.echo(
                f"  {'':13} TOTP secret: {account.totp_secret}  (code now: "
                f"{totp.code_at(account.totp_secret, now)})"
            )
            click.echo(f"  {'':13} {account.otpauth_uri}")
        else:
            click.echo(f"  {'':13} no authenticator yet: enrols at the first sign-in")
    click.echo("")
    click.echo(
        "Approvals: full mode waits for a second person (security@ or admin@ approves under Approvals);"
        " hank@globex.example approves each request himself."
    )
    click.echo("Codes at any time, now and next:  make codes")


@click.command("demo-codes")
@with_appcontext
def demo_codes() -> None:
    """Print each demo staff member's TOTP code now and next (development only).

    Each 30-second code is accepted once per staff member, sign-in and step-up alike, so starting an
    impersonation needs a code other than the one that signed in: the next one, once its step begins."""
    _development_only("demo-codes")
    now = clock.now()
    left = totp.STEP_SECONDS - int(now.timestamp()) % totp.STEP_SECONDS
    accounts = [a for a in demo.demo_staff(issuer=current_app.config["TOTP_ISSUER"]) if a.totp_secret]
    if not accounts:
        raise click.ClickException("No demo staff with an authenticator yet: run `make run` first.")
    click.echo(f"TOTP codes: 'now' for {left} more seconds, then 'next' (each code works once).")
    for account in accounts:
        upcoming = now + timedelta(seconds=totp.STEP_SECONDS)
        click.echo(
            f"  {account.role:13} {account.email:34} now {totp.code_at(account.totp_secret, now)}"
            f"   next {totp.code_at(account.totp_secret, upcoming)}"
        )


@click.group(cls=AppGroup)
def impersonation() -> None:
    """The global impersonation switch, and the sweep of overdue impersonations."""


@impersonation.command("status")
def impersonation_status() -> None:
    """Show whether impersonation is switched on."""
    click.echo("on" if settings.impersonation_enabled() else "off")


@impersonation.command("enable")
def impersonation_enable() -> None:
    """Switch impersonation on for everyone (audited)."""
    changed = switches.set_impersonation_enabled(True, actor=CLI_ACTOR, ip=None, now=clock.now())
    click.echo("Impersonation is on." if changed else "Impersonation was already on.")


@impersonation.command("disable")
def impersonation_disable() -> None:
    """Switch impersonation off: new requests and redemptions are refused, live sessions end."""
    changed = switches.set_impersonation_enabled(False, actor=CLI_ACTOR, ip=None, now=clock.now())
    click.echo(
        "Impersonation is off; live sessions end on their next request."
        if changed
        else "Impersonation was already off."
    )


@impersonation.command("sweep")
def impersonation_sweep() -> None:
    """End sessions past their end and record lapsed tokens now (every outbox worker also does this
    every SWEEP_SECONDS)."""
    swept = sweep.sweep(clock.now())
    click.echo(
        f"sessions ended: {swept.sessions_ended}, tokens lapsed: {swept.tokens_lapsed}, "
        f"approval requests expired: {swept.approvals_expired}"
    )
