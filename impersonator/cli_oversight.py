"""`flask audit …` and `flask outbox …`: the chain's verifier and anchor, and the outbox worker's
process (its loop is services/delivery/worker.py)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import click
import requests
from flask import current_app
from flask.cli import AppGroup

from impersonator import clock
from impersonator.extensions import db
from impersonator.services.audit import chain
from impersonator.services.delivery import outbox, webhooks, worker
from impersonator.services.errors import InvalidInput


@click.group(cls=AppGroup)
def audit() -> None:
    """Check and anchor the tamper-evident audit chain."""


@audit.command("verify")
@click.option(
    "--anchor",
    "anchor_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An anchor file written by `flask audit anchor`: also detects a truncated tail.",
)
def audit_verify(anchor_path: Path | None) -> None:
    """Walk the whole chain; print the first broken event and exit 1 if any."""
    anchor = None
    if anchor_path:
        try:
            anchor = chain.read_anchor(anchor_path)
        except (OSError, UnicodeDecodeError, ValueError) as problem:
            raise click.ClickException(f"cannot use {anchor_path} as an anchor: {problem}") from problem
    started = time.perf_counter()
    verdict = chain.verify(chain.chain_key(current_app.config), anchor=anchor)
    elapsed = time.perf_counter() - started
    chain.record_checkpoint(verdict, now=clock.now())
    click.echo(f"{verdict.summary()} ({elapsed:.1f} s)")
    if not verdict.ok:
        sys.exit(1)


@audit.command("anchor")
@click.option(
    "--file", "file_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the anchor here."
)
@click.option("--url", help="POST the anchor as JSON to this address (checked like a webhook URL).")
def audit_anchor(file_path: Path | None, url: str | None) -> None:
    """Record the chain's latest sequence number and hash outside the database."""
    if not file_path and not url:
        raise click.UsageError("Give --file, --url or both.")
    anchor = chain.current_anchor(now=clock.now())
    db.session.rollback()  # nothing below needs the database: never wait on a receiver in a transaction
    if file_path:
        chain.write_anchor(anchor, file_path)
        click.echo(f"anchor #{anchor.seq} {anchor.hash} written to {file_path}")
    if url:
        try:
            target = webhooks.check_url(url)
        except InvalidInput as refused:
            raise click.ClickException(refused.message) from refused
        timeout = current_app.config["DELIVERY_TIMEOUT_SECONDS"]
        try:
            response = requests.post(
                target,
                data=anchor.to_json(),
                headers={"content-type": "application/json"},
                timeout=(timeout, timeout),
                allow_redirects=False,
            )
        except requests.RequestException as failure:
            raise click.ClickException(f"could not reach {target}: {type(failure).__name__}") from failure
        if not 200 <= response.status_code < 300:
            raise click.ClickException(f"{target} answered {response.status_code}")
        click.echo(f"anchor #{anchor.seq} {anchor.hash} sent to {target}")


@click.group(cls=AppGroup, name="outbox")
def outbox_group() -> None:
    """Deliver the outbox: mail, webhooks and Slack."""


@outbox_group.command("work")
@click.option("--once", is_flag=True, help="One pass over the due messages, then exit.")
def outbox_work(once: bool) -> None:
    """Deliver due messages until stopped (SIGTERM or Ctrl-C finish the current message first)."""
    if once:
        done = worker.deliver_due()
        click.echo(f"delivered {done.delivered}, retrying {done.retried}, failed {done.failed}")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    poll_seconds = current_app.config["OUTBOX_POLL_SECONDS"]
    click.echo(f"outbox worker started (polling every {poll_seconds} s)")
    worker.run(stop, poll_seconds=poll_seconds, sweep_seconds=current_app.config["SWEEP_SECONDS"])


@outbox_group.command("status")
def outbox_status() -> None:
    """How many messages are pending, delivered and failed."""
    counts = outbox.counts()
    click.echo(", ".join(f"{status}: {n}" for status, n in counts.items()))
