"""Admin: the staff list, disabling an account, resetting its authenticator."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import requires
from impersonator.console.forms import ConfirmForm
from impersonator.models import Staff
from impersonator.services import staff_admin
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError
from impersonator.services.roles import ROLE_LABELS, Permission
from impersonator.web import client_ip

bp = Blueprint("staff_admin", __name__, url_prefix="/admin/staff")


@bp.get("/")
@requires(Permission.ADMIN)
def index():
    return render_template(
        "console/staff_list.html", staff=staff_admin.list_staff(), role_labels=ROLE_LABELS, form=ConfirmForm()
    )


@bp.post("/<int:staff_id>/disable")
@requires(Permission.ADMIN)
def disable(staff_id: int):
    member = _member(staff_id)
    try:
        staff_admin.disable_staff(member, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now())
    except DomainError as refused:
        flash(refused.message, "error")
    else:
        flash(f"{member.name} is disabled and signed out everywhere.", "info")
    return redirect(url_for("staff_admin.index"), code=303)


@bp.post("/<int:staff_id>/reset-totp")
@requires(Permission.ADMIN)
def reset_totp(staff_id: int):
    member = _member(staff_id)
    staff_admin.reset_totp(member, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now())
    flash(f"{member.name} will enrol a new authenticator at the next sign-in.", "info")
    return redirect(url_for("staff_admin.index"), code=303)


def _member(staff_id: int) -> Staff:
    member = staff_admin.staff_by_id(staff_id)
    if member is None:
        abort(404)
    return member
