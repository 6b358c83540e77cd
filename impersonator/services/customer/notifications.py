"""Notifications to customers (DESIGN I7): each one is a row, `sent` or `suppressed`.

While a ghost session is open on the account, nothing reaches the customer: the row is kept as
`suppressed` with the impersonation's id (the access history counts them as "held back"). Otherwise
the row is `sent` and the email goes to the outbox in the same transaction (a rolled-back change
sends nothing; a mail server that is down delays it, never loses it). The one exception is the
access notice itself, which exists to tell the customer that support has just entered their
account, and the approval notice, which asks for their decision or warns of a break-glass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import ApprovalRequest, Impersonation, Notification, User
from impersonator.services import links, wording
from impersonator.services.delivery import mail

SUBJECT_MAX = 200  # Notification.subject


def ghost_on(user_id: int, now: datetime) -> Impersonation | None:
    """The ghost session currently open on this user's account, if any."""
    return db.session.scalar(
        select(Impersonation)
        .where(
            Impersonation.user_id == user_id,
            Impersonation.redeemed_at.is_not(None),
            Impersonation.ended_at.is_(None),
            Impersonation.expires_at > now,
        )
        .order_by(Impersonation.id.desc())
        .limit(1)
    )


def notify(user: User, *, kind: str, subject: str, body: str, now: datetime) -> Notification:
    """The tenant app's own notifications (project created, email changed…): held back while a
    ghost session is open, otherwise mailed through the outbox."""
    return _notify(user, kind, "notification", now=now, subject=subject, body=body)


def access_notice(imp: Impersonation, *, ends_at: datetime, now: datetime) -> Notification | None:
    """Tell the customer that support has entered their account (unless they opted out of it):
    who, when, why, until when, how to revoke. Sent even while the ghost is there, by design."""
    user = imp.user
    if not user.wants_access_notice:
        return None
    return _notify(
        user,
        "support.access_started",
        "access_notice",
        now=now,
        always=True,
        subject=f"Support is accessing your {user.tenant.name} account",
        impersonation=imp,
        started_at=now,
        ends_at=ends_at,
        history_url=_history_url(user),
        settings_url=_settings_url(user),
        show_reason=not user.tenant.hide_justification,
    )


def approval_notice(request: ApprovalRequest, *, now: datetime) -> Notification:
    """Tell the customer at once (even while a ghost is on the account) that support asks to enter
    it and waits for their decision, or, for a break-glass, that support may enter it without
    their consent because of an incident."""
    user = request.user
    if request.break_glass:
        subject = f"Emergency: {user.tenant.name} support may access your account"
    else:
        subject = f"{user.tenant.name} support asks to access your account"
    return _notify(
        user,
        "support.break_glass" if request.break_glass else "support.approval_wanted",
        "approval_notice",
        now=now,
        always=True,
        subject=subject,
        request=request,
        reason_label=wording.reason_code(request.reason_code, "customer"),
        mode_label=wording.mode(request.granted_mode, "customer"),
        show_reason=not user.tenant.hide_justification,
        requests_url=_tenant_url(user, "support_requests.index"),
        history_url=_history_url(user),
    )


def code_lockout_notice(user: User, *, until: datetime, now: datetime) -> Notification:
    """Tell the customer that too many wrong support access codes locked code entry (held back,
    like every notification but the access notice, while a ghost session is open on the account)."""
    return _notify(
        user,
        "support.access_code_locked",
        "access_code_locked",
        now=now,
        subject=f"Support access codes for your {user.tenant.name} account are locked",
        until=until,
        settings_url=_settings_url(user),
    )


def _notify(
    user: User, kind: str, template: str, *, now: datetime, always: bool = False, subject: str, **context: Any
) -> Notification:
    """One notification row, and its email in the outbox unless held back (`always`: never)."""
    ghost = None if always else ghost_on(user.id, now)
    related = ghost or context.get("impersonation")
    subject = " ".join(subject.split())  # one line: the mail's Subject line ends at the first break
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    message = mail.compose(template, to=user.email, user=user, subject=subject, now=now, **context)
    notification = Notification(
        user_id=user.id,
        kind=kind,
        subject=subject,
        body=message.text,
        status="suppressed" if ghost else "sent",
        impersonation_id=related.id if related else None,
        created_at=now,
    )
    db.session.add(notification)
    if ghost is None:
        mail.enqueue(message, event_type=kind, now=now)
    db.session.flush()
    return notification


def _tenant_url(user: User, endpoint: str) -> str:
    domain = user.tenant.primary_domain
    return links.tenant_url(domain, endpoint) if domain else links.tenant_path(endpoint)


def _history_url(user: User) -> str:
    return _tenant_url(user, "support_access.history")


def _settings_url(user: User) -> str:
    return _tenant_url(user, "support_access.show")
