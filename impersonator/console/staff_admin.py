"""Admin: the staff list, creating a member with an enrolment link, re-issuing the link, changing a
role, disabling an account, resetting its authenticator. A new link is shown once, on the page the
POST redirects to (impersonator/web_once.py): a reload neither makes another nor shows it again."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from impersonator import clock, web_once
from impersonator.console.access import requires
from impersonator.console.admin_forms import ApproverForm, RoleForm, StaffCreateForm
from impersonator.models import Staff
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError
from impersonator.services.staff import accounts, directory
from impersonator.services.staff import invites as staff_invites
from impersonator.services.staff.roles import ROLE_LABELS, Permission
from impersonator.services.validation import page_number
from impersonator.web import client_ip

bp = Blueprint("staff_admin", __name__, url_prefix="/admin/staff")

# The page that shows an enrolment link: nothing may keep a copy of it.
LINK_HEADERS = {"Cache-Control": "no-store"}
SHOWN_ONCE = "enrolment_link"


@bp.get("/")
@requires(Permission.ADMIN)
def index():
    try:
        number = page_number(request.args.get("page"))
        matching = directory.clean_filter(request.args.get("q"))
    except DomainError as refused:
        flash(refused.message, "error")
        return _page(StaffCreateForm(formdata=None), status=refused.status)
    return _page(StaffCreateForm(formdata=None), number=number, matching=matching)


@bp.post("/")
@requires(Permission.ADMIN)
def create():
    form = StaffCreateForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        _, issued = accounts.create_invited_staff(
            email=form.email.data,
            name=form.name.data,
            role=form.role.data,
            actor=Actor.staff(current_user),
            ip=client_ip(),
            now=clock.now(),
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _page(form, status=refused.status)
    return _to_link_page(issued, new=True)


@bp.post("/<int:staff_id>/invite")
@requires(Permission.ADMIN)
def invite(staff_id: int):
    member = _member(staff_id)
    try:
        issued = staff_invites.issue(member, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now())
    except DomainError as refused:
        flash(refused.message, "error")
        return _back_to(member)
    return _to_link_page(issued, new=False)


# Not the POST's own address: a GET and a POST rule on one path make an id too large for the table
# a 405 instead of a 404 (werkzeug tries the other method's rule when the converter refuses).
@bp.get("/<int:staff_id>/enrolment-link")
@requires(Permission.ADMIN)
def invite_link(staff_id: int):
    """The link the last POST made, once; after that the page says it was shown once."""
    member = _member(staff_id)
    kept = web_once.take(SHOWN_ONCE, member.id)
    issued, new = None, False
    if kept is not None:
        try:
            expires_at = datetime.fromisoformat(kept["expires_at"])
            issued, new = staff_invites.Issued(member.id, str(kept["url"]), expires_at), bool(kept.get("new"))
        except (KeyError, TypeError, ValueError):
            issued = None
    page = render_template("console/staff/staff_invite.html", member=member, issued=issued, new=new)
    return page, 200, LINK_HEADERS


def _to_link_page(issued: staff_invites.Issued, *, new: bool):
    values = {"url": issued.url, "expires_at": issued.expires_at.isoformat(), "new": new}
    web_once.keep(SHOWN_ONCE, issued.staff_id, values)
    return redirect(url_for("staff_admin.invite_link", staff_id=issued.staff_id), code=303)


@bp.post("/<int:staff_id>/role")
@requires(Permission.ADMIN)
def change_role(staff_id: int):
    member = _member(staff_id)
    form = RoleForm(prefix=f"staff-{member.id}")
    if not form.validate_on_submit():
        flash("Choose one of the roles offered.", "error")
        matching, number = _place_of(member)
        return _page(StaffCreateForm(formdata=None), number=number, matching=matching, status=400)
    old = member.role
    try:
        changed = accounts.change_role(
            member, form.role.data, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _back_to(member)
    if changed:
        flash(f"{member.name} is now {ROLE_LABELS[member.role]} (was {ROLE_LABELS[old]}).", "info")
    else:
        flash(f"{member.name} already has that role.", "info")
    return _back_to(member)


@bp.post("/<int:staff_id>/may-approve")
@requires(Permission.ADMIN)
def set_may_approve(staff_id: int):
    """An impersonator may decide other members' requests, or no longer (DESIGN §11)."""
    member = _member(staff_id)
    form = ApproverForm()
    if not form.validate_on_submit():
        abort(400)
    allowed = form.allowed.data == "yes"
    try:
        changed = accounts.set_may_approve(
            member, allowed, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _back_to(member)
    if changed:
        verb = "may now approve" if allowed else "no longer approves"
        flash(f"{member.name} {verb} other staff members' requests.", "info")
    return _back_to(member)


@bp.post("/<int:staff_id>/disable")
@requires(Permission.ADMIN)
def disable(staff_id: int):
    member = _member(staff_id)
    try:
        accounts.disable_staff(member, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now())
    except DomainError as refused:
        flash(refused.message, "error")
    else:
        flash(f"{member.name} is disabled, signed out everywhere, and their impersonations ended.", "info")
    return _back_to(member)


@bp.post("/<int:staff_id>/reset-totp")
@requires(Permission.ADMIN)
def reset_totp(staff_id: int):
    member = _member(staff_id)
    accounts.reset_totp(member, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now())
    flash(
        f"{member.name} will enrol a new authenticator at the next sign-in; their console sessions and"
        " any impersonations they had open have ended.",
        "info",
    )
    return _back_to(member)


def _page(form: StaffCreateForm, *, number: int = 1, matching: str = "", status: int = 200):
    listed = directory.staff_page(number, matching=matching)
    role_forms = {
        member.id: RoleForm(formdata=None, prefix=f"staff-{member.id}", role=member.role)
        for member in listed.members
    }
    page = render_template(
        "console/staff/staff_list.html",
        listed=listed,
        filter_max_chars=directory.FILTER_MAX_CHARS,
        role_labels=ROLE_LABELS,
        form=form,
        role_forms=role_forms,
        invites=staff_invites.latest_by_staff([member.id for member in listed.members]),
        now=clock.now(),
    )
    return page, status


def _back_to(member: Staff):
    """After an action on a member: the list's page that shows them now, narrowed as it was. Its
    top, not their row: the message saying what happened (or what was refused) is shown there."""
    matching, number = _place_of(member)
    return redirect(
        url_for("staff_admin.index", q=matching or None, page=number if number > 1 else None), code=303
    )


def _place_of(member: Staff) -> tuple[str, int]:
    """The filter the list was narrowed by (each action's form carries it back as `q`) and the page
    of that list that shows `member` now. An unreadable filter is dropped: the whole list is shown."""
    try:
        matching = directory.clean_filter(request.form.get("q"))
    except DomainError:
        matching = ""
    return matching, directory.page_of(member, matching=matching)


def _member(staff_id: int) -> Staff:
    member = accounts.staff_by_id(staff_id)
    if member is None:
        abort(404)
    return member
