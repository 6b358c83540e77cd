"""My impersonations: the signed-in staff member's recent impersonations, and *End* on live ones."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import requires
from impersonator.console.forms import ConfirmForm
from impersonator.services import wording
from impersonator.services.audit import Actor
from impersonator.services.impersonation import lifecycle
from impersonator.services.staff.roles import Permission
from impersonator.web import client_ip

bp = Blueprint("impersonations", __name__, url_prefix="/impersonations")

# How an impersonation ended, in the words of the staff member who made it (services/wording.py).
END_LABELS = wording.for_audience(wording.END_REASONS, "staff")


@bp.get("/mine")
@requires(Permission.IMPERSONATE_READ_ONLY)
def mine():
    return render_template(
        "console/impersonation/my_impersonations.html",
        rows=lifecycle.for_staff(current_user.id),
        now=clock.now(),
        form=ConfirmForm(),
        end_labels=END_LABELS,
    )


@bp.post("/<int:impersonation_id>/end")
@requires(Permission.IMPERSONATE_READ_ONLY)
def end(impersonation_id: int):
    if not lifecycle.belongs_to(impersonation_id, current_user.id):
        abort(404)
    if lifecycle.end(
        impersonation_id,
        reason="staff_ended",
        actor=Actor.staff(current_user),
        ip=client_ip(),
        now=clock.now(),
    ):
        flash("The impersonation is ended: its next request is refused.", "info")
    return redirect(url_for("impersonations.mine"), code=303)
