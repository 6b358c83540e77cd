"""Admin: the outbox (DESIGN I10): how many messages wait, went out or gave up; the failed ones
with their last error and *Retry*; the pending ones with their next attempt. Never a message's
body: only its kind, event, a masked destination and times."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import requires
from impersonator.models import OutboxMessage
from impersonator.services.audit import Actor
from impersonator.services.delivery import outbox, senders
from impersonator.services.errors import DomainError
from impersonator.services.staff.roles import Permission
from impersonator.web import client_ip, error_page

bp = Blueprint("outbox_admin", __name__, url_prefix="/admin/outbox")


_EMAIL = re.compile(r"([^\s@'\"<>(){}\[\],;:]+)@([A-Za-z0-9.-]+)")


def mask_email(match: re.Match) -> str:
    return f"{match.group(1)[:1]}•••@{match.group(2)}"


def masked_error(text: str | None) -> str:
    """The last error, with any email address in it (an SMTP refusal names one) masked."""
    return _EMAIL.sub(mask_email, text or "")


def masked_destination(message: OutboxMessage) -> str:
    """Where it goes, without giving away an address or a URL's secret parts."""
    if message.kind == "mail":
        return _EMAIL.sub(mask_email, message.destination) if "@" in message.destination else "•••"
    if message.kind == "webhook":
        host = urlsplit(message.destination).hostname or "?"
        return (
            f"{host} (endpoint {message.endpoint_id})"
            if message.endpoint_id
            else f"{host} (deleted endpoint)"
        )
    return "Slack"


@bp.get("/")
@requires(Permission.ADMIN)
def index():
    return render_template(
        "console/admin/outbox.html",
        counts=outbox.counts(),
        failed=outbox.failed(),
        pending=outbox.pending(),
        destination=masked_destination,
        error=masked_error,
        give_up_at=outbox.give_up_at,
        now=clock.now(),
    )


@bp.post("/<bigint:message_pk>/retry")
@requires(Permission.ADMIN)
def retry(message_pk: int):
    try:
        message = senders.retry(message_pk, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now())
    except DomainError as refused:
        if refused.status == 404:
            return error_page(404, refused.message)
        flash(refused.message, "error")
    else:
        flash(f"Message {message.message_id} will be sent again with the next pass of the worker.", "info")
    return redirect(url_for("outbox_admin.index"), code=303)
