"""Admin: webhook endpoints (DESIGN I10): the list with how delivery is going, creating one (its
signing secret shown once, on the page the POST redirects to: impersonator/web_once.py), enabling,
disabling, deleting, and a test event."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock, web_once
from impersonator.console.access import requires
from impersonator.console.admin_forms import WebhookForm
from impersonator.models import WEBHOOK_EVENTS
from impersonator.services.audit import Actor
from impersonator.services.delivery import webhook_endpoints
from impersonator.services.errors import DomainError
from impersonator.services.staff.roles import Permission
from impersonator.web import client_ip, error_page

bp = Blueprint("webhooks_admin", __name__, url_prefix="/admin/webhooks")
SHOWN_ONCE = "new_webhook"


@bp.get("/")
@requires(Permission.ADMIN)
def index():
    return _page(WebhookForm(formdata=None, events=list(WEBHOOK_EVENTS)))


@bp.post("/")
@requires(Permission.ADMIN)
def create():
    form = WebhookForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        created = webhook_endpoints.create(
            url=form.url.data,
            description=form.description.data,
            events=form.events.data,
            actor=Actor.staff(current_user),
            ip=client_ip(),
            now=clock.now(),
        )
    except DomainError as refused:
        if refused.reason.startswith("webhook_url"):
            form.url.errors.append(refused.message)  # next to the field it is about
        else:
            flash(refused.message, "error")
        return _page(form, status=refused.status)
    # The secret waits for the GET below, which shows it once: a reload adds no second endpoint.
    web_once.keep(SHOWN_ONCE, created.endpoint.id, {"secret": created.secret})
    return redirect(url_for("webhooks_admin.secret", endpoint_id=created.endpoint.id), code=303)


@bp.get("/<int:endpoint_id>/secret")
@requires(Permission.ADMIN)
def secret(endpoint_id: int):
    """The new endpoint's signing secret, once; after that the page says it was shown once."""
    try:
        endpoint = webhook_endpoints.get(endpoint_id)
    except DomainError as refused:
        return error_page(404, refused.message)
    kept = web_once.take(SHOWN_ONCE, endpoint_id)
    page = render_template(
        "console/admin/webhooks_secret.html", endpoint=endpoint, secret=kept.get("secret") if kept else None
    )
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/<int:endpoint_id>/enable")
@requires(Permission.ADMIN)
def enable(endpoint_id: int):
    return _change(endpoint_id, "enable")


@bp.post("/<int:endpoint_id>/disable")
@requires(Permission.ADMIN)
def disable(endpoint_id: int):
    return _change(endpoint_id, "disable")


@bp.post("/<int:endpoint_id>/delete")
@requires(Permission.ADMIN)
def delete(endpoint_id: int):
    return _change(endpoint_id, "delete")


@bp.post("/<int:endpoint_id>/test")
@requires(Permission.ADMIN)
def send_test(endpoint_id: int):
    return _change(endpoint_id, "test")


def _change(endpoint_id: int, what: str):
    actor, ip, now = Actor.staff(current_user), client_ip(), clock.now()
    try:
        if what == "enable":
            changed = webhook_endpoints.set_active(endpoint_id, True, actor=actor, ip=ip, now=now)
            flash("The endpoint is enabled." if changed else "The endpoint was already enabled.", "info")
        elif what == "disable":
            changed = webhook_endpoints.set_active(endpoint_id, False, actor=actor, ip=ip, now=now)
            flash(
                "The endpoint is disabled: it gets no new events." if changed else "It was already disabled.",
                "info",
            )
        elif what == "delete":
            dropped = webhook_endpoints.delete(endpoint_id, actor=actor, ip=ip, now=now)
            flash(
                "The endpoint is deleted."
                + (f" {dropped} undelivered message(s) to it are marked failed." if dropped else ""),
                "info",
            )
        else:
            webhook_endpoints.send_test(endpoint_id, actor=actor, ip=ip, now=now)
            flash("A test event is queued; it goes out with the next pass of the outbox worker.", "info")
    except DomainError as refused:
        if refused.status == 404:
            return error_page(404, refused.message)
        flash(refused.message, "error")
    return redirect(url_for("webhooks_admin.index"), code=303)


def _page(form: WebhookForm, *, status: int = 200):
    page = render_template(
        "console/admin/webhooks.html", rows=webhook_endpoints.listing(), form=form, events=WEBHOOK_EVENTS
    )
    return page, status
