"""`flask act-keys …`: the keys that sign `act` tokens (services/signing_keys.py)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from impersonator import clock
from impersonator.services import signing_keys
from impersonator.services.audit import Actor

CLI_ACTOR = Actor.system("cli")


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


@click.group("act-keys", cls=AppGroup)
def act_keys() -> None:
    """The keys that sign act tokens for the product's own back-ends (published as a JWKS)."""


@act_keys.command("rotate")
def rotate() -> None:
    """Create a key that signs from now on; the one before stays published until its tokens expire.
    The first run creates the first key."""
    rotation = signing_keys.rotate(actor=CLI_ACTOR, ip=None, now=clock.now())
    click.echo(f"Signing with {rotation.kid} from now on.")
    for kid in rotation.retired:
        click.echo(f"Retired {kid}: published until {_when(rotation.published_until)}, then gone.")


@act_keys.command("ensure")
def ensure() -> None:
    """Create the first key if none signs yet; otherwise change nothing (safe to run on every start)."""
    kid = signing_keys.ensure_key(actor=CLI_ACTOR, ip=None, now=clock.now())
    click.echo(f"Created the first signing key {kid}." if kid else "A key signs already; nothing changed.")


@act_keys.command("list")
def list_keys() -> None:
    """List every key, newest first: signing, published (retired, tokens in flight) or gone."""
    states = signing_keys.list_keys(clock.now())
    if not states:
        click.echo("No signing keys yet. Create the first one with: flask act-keys rotate")
        return
    for key in states:
        until = f"published until {_when(key.published_until)}" if key.published_until else ""
        click.echo(f"{key.kid}  {key.state:9}  created {_when(key.created_at)}  {until}".rstrip())
