"""Admin: API keys of the JSON API (DESIGN §12): the list with scopes and last use, creating one
(shown once: POST, redirect, then the one GET that shows it), and revoking one."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_login import current_user
from wtforms import SelectChoice, SelectMultipleField, StringField
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from impersonator import clock
from impersonator.console.access import requires
from impersonator.forms import Readable, TextForm
from impersonator.models import API_SCOPES
from impersonator.services.api import keys
from impersonator.services.errors import DomainError
from impersonator.services.staff.roles import Permission
from impersonator.web import client_ip, error_page

bp = Blueprint("api_keys_admin", __name__, url_prefix="/admin/api-keys")
REVEAL_KEY = "api_key_reveal"  # the session key that carries a new key, sealed, to the page shown once
SCOPE_LABELS = {
    "impersonations:read": "impersonations:read — list impersonations and live sessions",
    "sessions:terminate": "sessions:terminate — end a live session",
    "audit:read": "audit:read — follow the audit log",
}


class ApiKeyForm(TextForm):
    name = StringField("Name (what uses it)", validators=[Readable("Name", keys.NAME_MAX_CHARS)])
    scopes = SelectMultipleField(
        "Scopes",
        choices=[SelectChoice(scope, SCOPE_LABELS[scope]) for scope in API_SCOPES],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def validate_scopes(self, field: SelectMultipleField) -> None:
        if not field.data:
            raise ValidationError("Choose at least one scope.")


@bp.get("/")
@requires(Permission.ADMIN)
def index():
    return _page(ApiKeyForm(formdata=None))


@bp.post("/")
@requires(Permission.ADMIN)
def create():
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        created = keys.create(
            form.name.data, form.scopes.data, admin=current_user, ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _page(form, status=refused.status)
    session[REVEAL_KEY] = {"id": created.api_key.id, "sealed": keys.seal(created.plaintext)}
    return redirect(url_for("api_keys_admin.created", key_id=created.api_key.id), code=303)


@bp.get("/<int:key_id>/created")
@requires(Permission.ADMIN)
def created(key_id: int):
    try:
        api_key = keys.get(key_id)
    except DomainError as refused:
        return error_page(404, refused.message)
    waiting = session.pop(REVEAL_KEY, None)
    plaintext = None
    if isinstance(waiting, dict) and waiting.get("id") == key_id:
        plaintext = keys.unseal(waiting.get("sealed"), now=clock.now())
    page = render_template("console/admin/api_key_created.html", api_key=api_key, plaintext=plaintext)
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/<int:key_id>/revoke")
@requires(Permission.ADMIN)
def revoke(key_id: int):
    try:
        revoked = keys.revoke(key_id, admin=current_user, ip=client_ip(), now=clock.now())
    except DomainError as refused:
        return error_page(404, refused.message)
    flash("The key is revoked: its next call is refused." if revoked else "It was already revoked.", "info")
    return redirect(url_for("api_keys_admin.index"), code=303)


def _page(form: ApiKeyForm, *, status: int = 200):
    page = render_template("console/admin/api_keys.html", rows=keys.listing(), form=form)
    return page, status
