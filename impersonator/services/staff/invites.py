"""One-time enrolment links for staff: an admin creates a staff member, or re-issues a
link to one who lost their password, and hands the link over; the invitee sets a password with it
and goes on to enrol an authenticator at the sign-in's TOTP step.

Only the SHA-256 of the link's random token is stored. A link works once, until STAFF_INVITE_HOURS
after it was made, and a new link revokes the older ones. Using it is a conditional UPDATE, so two
people racing with one link cannot both set a password.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from impersonator.extensions import db
from impersonator.models import Staff, StaffInvite
from impersonator.services import audit, secret_box
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError, InvalidInput, NotAllowed
from impersonator.services.links import console_url
from impersonator.services.passwords import hash_password, new_password_problem
from impersonator.services.secret_text import token_digest
from impersonator.services.staff import sessions, totp

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,100}")


class InviteInvalid(DomainError):
    """No such link: mistyped, cut short, or made up."""

    status = 404

    def __init__(self) -> None:
        super().__init__(
            "invite_invalid",
            "This enrolment link is not valid. Check that you copied all of it, "
            "or ask an administrator for a new one.",
        )


class InviteGone(DomainError):
    """A real link that can no longer be used: used, expired, revoked, or its account disabled."""

    status = 410
    MESSAGES = {
        "invite_used": "This enrolment link was already used. Sign in with your password, "
        "or ask an administrator for a new link.",
        "invite_expired": "This enrolment link has expired or was replaced by a newer one. "
        "Ask an administrator for a new one.",
        "staff_disabled": "This account is disabled; its enrolment link can no longer be used.",
    }

    def __init__(self, reason: str, invite: StaffInvite) -> None:
        super().__init__(reason, self.MESSAGES[reason])
        self.invite = invite


class InviteInAddress(DomainError):
    """A link of the old kind, with the token in the address's path (access logs keep those)."""

    status = 410

    def __init__(self) -> None:
        super().__init__(
            "invite_in_address",
            "This enrolment link is of an older kind, whose code travels where logs can keep it, so "
            "it was cancelled. Ask an administrator for a new link.",
        )


class PasswordRefused(InvalidInput):
    """The chosen password breaks a rule; `field` names the form field the message belongs to."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__("bad_password", message)
        self.field = field


@dataclass(frozen=True)
class Issued:
    """A fresh link: shown to the admin once, never stored."""

    staff_id: int
    url: str
    expires_at: datetime


def enrolment_url(token: str) -> str:
    """The absolute address of the enrolment page on the console host (never from the request),
    the token in its fragment: browsers never send a fragment, so no server or proxy logs it."""
    return f"{console_url('staff_invites.opener')}#{token}"


def issue_in_transaction(staff: Staff, *, actor: Actor, ip: str | None, now: datetime) -> Issued:
    """Make a new link for `staff` (revoking any older unused one), audited, in the caller's
    transaction."""
    if not staff.active:
        raise NotAllowed("staff_disabled", f"{staff.name} is disabled: a disabled account gets no link.")
    revoked = db.session.execute(
        update(StaffInvite)
        .where(StaffInvite.staff_id == staff.id, StaffInvite.used_at.is_(None), StaffInvite.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=current_app.config["STAFF_INVITE_HOURS"])
    invite = StaffInvite(
        staff_id=staff.id,
        token_hash=token_digest(token),
        created_at=now,
        expires_at=expires_at,
        created_by_id=actor.id if actor.type == "staff" else None,
    )
    db.session.add(invite)
    db.session.flush()
    audit.about_staff(
        "staff.invite_issued",
        staff_id=staff.id,
        actor=actor,
        at=now,
        ip=ip,
        details={
            "email": staff.email,
            "invite_id": invite.id,
            "expires_at": expires_at.isoformat(),
            "revoked": revoked,
        },
    )
    return Issued(staff.id, enrolment_url(token), expires_at)


def issue(staff: Staff, *, actor: Actor, ip: str | None, now: datetime) -> Issued:
    """Re-issue: a new link for an existing staff member; older unused links stop working."""
    issued = issue_in_transaction(staff, actor=actor, ip=ip, now=now)
    db.session.commit()
    return issued


def find(token: str | None, *, now: datetime) -> StaffInvite:
    """The usable invite behind `token`, or InviteInvalid (404) / InviteGone (410)."""
    if not token or not _TOKEN_SHAPE.fullmatch(token):
        raise InviteInvalid()
    invite = db.session.scalar(select(StaffInvite).where(StaffInvite.token_hash == token_digest(token)))
    if invite is None:
        raise InviteInvalid()
    if invite.used_at is not None:
        raise InviteGone("invite_used", invite)
    if now >= invite.expires_at:
        raise InviteGone("invite_expired", invite)
    if not invitee(invite).active:
        raise InviteGone("staff_disabled", invite)
    return invite


def cancel_exposed(token: str | None, *, ip: str | None, now: datetime) -> None:
    """Cancel the link whose token arrived in an address (`/enrol/<token>`), audited as a refusal;
    InviteInvalid or InviteGone when there is nothing to cancel."""
    invite = find(token, now=now)
    db.session.execute(
        update(StaffInvite)
        .where(StaffInvite.id == invite.id, StaffInvite.used_at.is_(None))
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    _record_refusal(InviteGone("invite_expired", invite), ip=ip, now=now, reason="invite_in_address")


def invitee(invite: StaffInvite) -> Staff:
    """The staff member the link is for."""
    return db.session.get(Staff, invite.staff_id)


def accept(
    token: str | None, password: str | None, confirmation: str | None, *, ip: str | None, now: datetime
) -> Staff:
    """Use the link once: set the password and prepare the authenticator enrolment. A known link
    that can no longer be used is audited as `staff.enrolment_refused`."""
    try:
        invite = find(token, now=now)
    except InviteGone as gone:
        _record_refusal(gone, ip=ip, now=now)
        raise
    problem = password_problem(password or "", confirmation or "")
    if problem:
        raise problem
    used = db.session.execute(
        update(StaffInvite)
        .where(StaffInvite.id == invite.id, StaffInvite.used_at.is_(None), StaffInvite.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:  # someone else used it a moment ago
        db.session.rollback()
        gone = InviteGone("invite_used", invite)
        _record_refusal(gone, ip=ip, now=now)
        raise gone
    staff = invitee(invite)
    staff.password_hash = hash_password(password)
    if not staff.totp_enrolled and staff.totp_secret_encrypted is None:
        # The TOTP step of sign-in shows this secret to enrol, as after a first password sign-in.
        staff.totp_secret_encrypted = secret_box.encrypt(totp.new_secret())
    # New credentials: any console session from before (a reset link) ends.
    ended = sessions.end_all_for(staff.id, reason="password_set", now=now)
    audit.about_staff(
        "staff.enrolment_link_used",
        staff_id=staff.id,
        actor=Actor.staff(staff),
        at=now,
        ip=ip,
        details={"invite_id": invite.id, "sessions_ended": ended, "totp_enrolled": staff.totp_enrolled},
    )
    db.session.commit()
    return staff


def password_problem(password: str, confirmation: str) -> PasswordRefused | None:
    """What is wrong with the chosen password, if anything."""
    problem = new_password_problem(password)
    if problem:
        return PasswordRefused(problem, field="password")
    if password != confirmation:
        return PasswordRefused("The two passwords are not the same.", field="confirmation")
    return None


def latest_by_staff(staff_ids: Collection[int]) -> dict[int, StaffInvite]:
    """The newest link of each of these staff members, for a page of the staff list (sent, used,
    expired)."""
    invites = db.session.scalars(
        select(StaffInvite)
        .where(StaffInvite.staff_id.in_(staff_ids))
        .order_by(StaffInvite.created_at, StaffInvite.id)
    )
    return {invite.staff_id: invite for invite in invites}


def _record_refusal(gone: InviteGone, *, ip: str | None, now: datetime, reason: str | None = None) -> None:
    if reason is None:  # a plain refusal writes nothing else; a cancellation keeps its update
        db.session.rollback()
    staff = invitee(gone.invite)
    audit.about_staff(
        "staff.enrolment_refused",
        staff_id=gone.invite.staff_id,
        actor=Actor.staff(staff) if staff else Actor.anonymous(),
        at=now,
        ip=ip,
        outcome="denied",
        details={"invite_id": gone.invite.id, "reason": reason or gone.reason},
    )
    db.session.commit()
