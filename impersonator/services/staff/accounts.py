"""Managing staff accounts: create (with an enrolment link), change role, disable, reset TOTP.
Every change is audited with its old and new value (DESIGN I1); taking the right to impersonate
away, or the authenticator it was won with, ends the member's open impersonations in the same
transaction (I4)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import ROLES, Staff
from impersonator.services import audit
from impersonator.services.approvals import closing
from impersonator.services.audit import Actor
from impersonator.services.errors import InvalidInput, NotAllowed
from impersonator.services.impersonation import lifecycle, policy
from impersonator.services.passwords import hash_password
from impersonator.services.staff import invites, sessions
from impersonator.services.staff.roles import allows
from impersonator.services.validation import clean_text, normalise_email


class StaffNotFound(InvalidInput):
    status = 404

    def __init__(self, email: str) -> None:
        super().__init__("staff_not_found", f"No staff member with the email {email}.")


class Ended(NamedTuple):
    """How many console sessions and impersonations `cut_off` ended."""

    sessions: int
    impersonations: int


def new_initial_password() -> str:
    """A random password for a new account, to be handed over once."""
    return secrets.token_urlsafe(12)


def create_staff(
    *, email: str, name: str, role: str, actor: Actor, now: datetime, password: str | None = None
) -> tuple[Staff, str]:
    """Create a staff member; returns it with its initial password (shown once, stored hashed)."""
    password = password or new_initial_password()
    staff = _add_staff(email, name, role, hash_password(password), actor=actor, ip=None, now=now)
    db.session.commit()
    return staff, password


def create_invited_staff(
    *, email: str, name: str, role: str, actor: Actor, ip: str | None, now: datetime
) -> tuple[Staff, invites.Issued]:
    """Create a staff member who sets their own password through a one-time enrolment link."""
    # A password nobody knows: the account cannot be signed in to until the link is used.
    unusable = hash_password(secrets.token_urlsafe(32))
    staff = _add_staff(email, name, role, unusable, actor=actor, ip=ip, now=now)
    issued = invites.issue_in_transaction(staff, actor=actor, ip=ip, now=now)
    db.session.commit()
    return staff, issued


def _add_staff(
    email: str, name: str, role: str, password_hash: str, *, actor: Actor, ip: str | None, now: datetime
) -> Staff:
    email = normalise_email(email)
    name = clean_text(name, "Name", max_length=200)
    if role not in ROLES:
        raise InvalidInput("bad_role", f"Role must be one of: {', '.join(ROLES)}.")
    if db.session.scalar(select(Staff.id).where(Staff.email == email)) is not None:
        raise InvalidInput("email_taken", f"A staff member with the email {email} already exists.")
    staff = Staff(email=email, name=name, role=role, password_hash=password_hash, created_at=now)
    db.session.add(staff)
    db.session.flush()
    audit.about_staff(
        "staff.created",
        staff_id=staff.id,
        actor=actor,
        at=now,
        ip=ip,
        details={"email": email, "name": name, "role": role},
    )
    return staff


def find_staff(email: str) -> Staff:
    """The staff member with this email, or StaffNotFound."""
    staff = db.session.scalar(select(Staff).where(Staff.email == normalise_email(email)))
    if staff is None:
        raise StaffNotFound(email)
    return staff


def staff_by_id(staff_id: int) -> Staff | None:
    """The staff member with this id, or None."""
    return db.session.get(Staff, staff_id)


def change_role(staff: Staff, role: str, *, actor: Actor, ip: str | None, now: datetime) -> bool:
    """Give `staff` another role; returns whether anything changed. Open impersonations the new
    role may not hold end at once ("staff_disabled"); the ghost guard checks the role too."""
    if actor.type == "staff" and actor.id == staff.id:
        raise NotAllowed("self_role_change", "You cannot change your own role.")
    if role not in ROLES:
        raise InvalidInput("bad_role", "Choose one of the roles offered.")
    old = staff.role
    if old == role:
        return False
    staff.role = role
    staff.may_approve = False  # an approver is chosen for a role: a new role starts without it
    ended = lifecycle.end_all_in_transaction(
        [
            imp
            for imp in lifecycle.open_ones(now, staff_id=staff.id)
            if not allows(role, policy.MODE_PERMISSIONS[imp.mode])
        ],
        "staff_disabled",
        actor,
        ip=ip,
        now=now,
    )
    # Requests waiting for approval were asked under the old role: the member asks again.
    closing.cancel_open("staff_disabled", actor, now=now, ip=ip, staff_id=staff.id)
    audit.about_staff(
        "staff.role_changed",
        staff_id=staff.id,
        actor=actor,
        at=now,
        ip=ip,
        details={"email": staff.email, "role": {"old": old, "new": role}, "impersonations_ended": ended},
    )
    db.session.commit()
    return True


def set_may_approve(staff: Staff, allowed: bool, *, actor: Actor, ip: str | None, now: datetime) -> bool:
    """Let an impersonator decide other members' requests, or stop them (DESIGN §7, §11); returns
    whether anything changed. Security officers and admins approve by their role, so the flag is
    theirs to set only for impersonators. Losing it cancels nothing: open requests wait for anyone."""
    if actor.type == "staff" and actor.id == staff.id:
        raise NotAllowed("self_approver_change", "You cannot change whether you approve requests yourself.")
    if staff.role != "impersonator":
        raise InvalidInput(
            "approver_by_role",
            "Only an impersonator's approving is set here: other roles approve by their role.",
        )
    if staff.may_approve == allowed:
        return False
    staff.may_approve = allowed
    audit.about_staff(
        "staff.approver_changed",
        staff_id=staff.id,
        actor=actor,
        at=now,
        ip=ip,
        details={"email": staff.email, "may_approve": {"old": not allowed, "new": allowed}},
    )
    db.session.commit()
    return True


def cut_off(
    staff: Staff,
    *,
    action: str,
    change: dict,
    reason: str,
    actor: Actor,
    ip: str | None,
    now: datetime,
    include_unredeemed: bool = False,
) -> Ended:
    """End every console session and open impersonation of `staff` (each with `reason`) and cancel
    their open approval requests, then audit `action` with the counts and the `change` that caused
    it, in the caller's transaction (I4: the next request of either is refused)."""
    sessions_ended = sessions.end_all_for(staff.id, reason=reason, now=now)
    impersonations_ended = lifecycle.end_all_in_transaction(
        lifecycle.open_ones(now, staff_id=staff.id, include_unredeemed=include_unredeemed),
        reason,
        actor,
        ip=ip,
        now=now,
    )
    closing.cancel_open(reason, actor, now=now, ip=ip, staff_id=staff.id)
    audit.about_staff(
        action,
        staff_id=staff.id,
        actor=actor,
        at=now,
        ip=ip,
        details={
            "email": staff.email,
            "sessions_ended": sessions_ended,
            "impersonations_ended": impersonations_ended,
            **change,
        },
    )
    return Ended(sessions_ended, impersonations_ended)


def disable_staff(staff: Staff, *, actor: Actor, ip: str | None, now: datetime) -> None:
    """Disable the account and end all its console sessions and impersonations at once (DESIGN I4)."""
    if actor.type == "staff" and actor.id == staff.id:
        raise NotAllowed("self_disable", "You cannot disable your own account.")
    if not staff.active:
        return
    staff.active, staff.disabled_at = False, now
    change = {"active": {"old": True, "new": False}}
    cut_off(
        staff, action="staff.disabled", change=change, reason="staff_disabled", actor=actor, ip=ip, now=now
    )
    db.session.commit()


def reset_totp(staff: Staff, *, actor: Actor, ip: str | None, now: datetime) -> None:
    """Forget the authenticator (the next sign-in enrols a new one) and end, at once, the member's
    console sessions, ghost sessions and still-redeemable tokens: all were won with it (DESIGN I4)."""
    change = {"totp_enrolled": {"old": staff.totp_enrolled, "new": False}}
    staff.totp_secret_encrypted = None
    staff.totp_enrolled_at = None
    # Unredeemed tokens too: redemption re-checks the member's standing, and a reset leaves that
    # standing intact, so a token issued with a lost authenticator would otherwise still redeem.
    cut_off(
        staff,
        action="staff.totp_reset",
        change=change,
        reason="totp_reset",
        actor=actor,
        ip=ip,
        now=now,
        include_unredeemed=True,
    )
    db.session.commit()
