"""The customer's consent to support access (DESIGN §9, I5): opt in for a period, opt out,
support access codes, and the access-notice email. What a support request needs is the policy
service's answer (policy.py); this module only explains it to the customer and keeps the settings.

Every change is audited with the customer as actor in the transaction that makes it (I1). None of
this is ever the ghost's: views refuse it with `@not_for_impersonators`, and every change here
refuses it too (`ghost=True`), whatever the mode (I7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import AccessCode, User
from impersonator.services import audit, throttle
from impersonator.services.audit import Actor
from impersonator.services.consent import access_codes
from impersonator.services.errors import InvalidInput, Locked, NotAllowed
from impersonator.services.impersonation import policy

# The periods a customer may allow support access for; longer than OPT_IN_MAX_DAYS is never offered.
OPT_IN_PERIODS: dict[str, tuple[str, timedelta]] = {
    "8h": ("8 hours", timedelta(hours=8)),
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
}


class NotForGhost(NotAllowed):
    def __init__(self) -> None:
        super().__init__(
            "not_for_impersonators",
            "Support staff cannot change the account's support-access settings while impersonating.",
        )


class SupportAccessOff(NotAllowed):
    def __init__(self) -> None:
        super().__init__(
            "tenant_off",
            "Your company has turned support access off: support cannot enter your account.",
        )


class CodeEntryLocked(Locked):
    """Too many wrong codes were entered for this account: no new code until the lock ends."""

    def __init__(self, until: datetime) -> None:
        super().__init__("access_code_locked", until)
        stamp = (until + timedelta(seconds=59)).strftime("%H:%M UTC")
        self.message = (
            "Support access codes for your account are locked because several wrong codes were "
            f"entered. You can generate a new code after {stamp}."
        )
        self.args = (self.message,)


@dataclass(frozen=True)
class Summary:
    """What the settings page tells the customer about support access right now."""

    policy: str  # the tenant's access_policy
    state: policy.AccessState
    needs: str  # what a support request needs, in the customer's words
    opted_in_until: datetime | None
    opt_in_offered: bool  # the tenant's policy lets an opt-in matter
    codes_offered: bool  # support access is on for this tenant at all
    code_expires_at: datetime | None  # the current usable code's expiry (never the code)
    code_locked_until: datetime | None
    access_notice: bool

    @property
    def code_locked_text(self) -> str | None:
        """The lock, in the same words as the refusal of a new code."""
        return CodeEntryLocked(self.code_locked_until).message if self.code_locked_until else None


@dataclass(frozen=True)
class GeneratedCode:
    """A new support access code, for display once."""

    code: str
    expires_at: datetime


def periods() -> dict[str, str]:
    """The opt-in periods on offer (key → label), within OPT_IN_MAX_DAYS."""
    limit = _max_opt_in()
    return {key: label for key, (label, length) in OPT_IN_PERIODS.items() if length <= limit}


def summary(user: User, now: datetime) -> Summary:
    """The settings page's facts: policy, opt-in, current code, lock and email choice."""
    tenant = user.tenant
    state = policy.access_state(user, now)
    tenant_on = tenant.impersonation_enabled and tenant.access_policy != "off"
    until = user.support_access_opt_in_until if policy.opted_in(user, now) else None
    approves = state.code == "approval_needed"
    return Summary(
        policy=tenant.access_policy,
        state=state,
        needs=_what_support_needs(user, state, tenant_on, until),
        opted_in_until=until,
        # Where the customer approves each request, the approval is the consent: no code, no opt-in.
        opt_in_offered=tenant_on and tenant.access_policy == "opt_in_or_code" and not approves,
        codes_offered=tenant_on and not approves,
        code_expires_at=current_code_expiry(user, now),
        code_locked_until=throttle.locked_until(access_codes.failure_key(user.id), now),
        access_notice=user.wants_access_notice,
    )


def _what_support_needs(
    user: User, state: policy.AccessState, tenant_on: bool, until: datetime | None
) -> str:
    if not tenant_on:
        return "Your company has turned support access off: support cannot enter your account."
    if state.code == "switched_off":
        return "Support access is switched off for everyone right now: support cannot enter your account."
    if state.code == "approval_needed":
        return (
            "Support asks you before every access: nothing happens until you approve a request under "
            "Support requests, and an approval lets that one staff member in once."
        )
    if user.tenant.access_policy == "code_always":
        return (
            "Your company requires a support access code every time: support can enter your account "
            "only with a code you generate here and read out to them."
        )
    if until is not None:
        return (
            f"You allow support to access your account without a code until {_stamp(until)}. "
            "After that they need a support access code from you."
        )
    return (
        "Support can enter your account only with a support access code you generate here and read "
        "out to them, or while you allow access for a period."
    )


def current_code_expiry(user: User, now: datetime) -> datetime | None:
    """When the user's usable support access code expires, or None when there is none."""
    return db.session.scalar(
        select(func.max(AccessCode.expires_at)).where(
            AccessCode.user_id == user.id,
            AccessCode.used_at.is_(None),
            AccessCode.revoked_at.is_(None),
            AccessCode.expires_at > now,
        )
    )


def opt_in(user: User, period: str | None, *, ghost: bool, ip: str | None, now: datetime) -> datetime:
    """Allow support access without a code for `period` (a key of `periods()`); returns the end."""
    _refuse_ghost(ghost)
    offered = periods()
    if period not in offered:
        raise InvalidInput(
            "bad_period", f"Choose how long to allow support access: {', '.join(offered.values())}."
        )
    tenant = user.tenant
    if not tenant.impersonation_enabled or tenant.access_policy == "off":
        raise SupportAccessOff()
    if tenant.access_policy != "opt_in_or_code":
        raise NotAllowed(
            "opt_in_not_used",
            "Your company requires a support access code every time, so allowing access "
            "for a period would change nothing. Generate a code instead.",
        )
    # Never indefinite and never past OPT_IN_MAX_DAYS, whatever the table above says (DESIGN §9).
    until = now + min(OPT_IN_PERIODS[period][1], _max_opt_in())
    previous = user.support_access_opt_in_until
    user.support_access_opt_in_until = until
    _audit(
        user,
        "support_access.opted_in",
        ip=ip,
        now=now,
        details={
            "until": until.isoformat(),
            "period": period,
            "previous_until": previous.isoformat() if previous and previous > now else None,
        },
    )
    db.session.commit()
    return until


def opt_out(user: User, *, ghost: bool, ip: str | None, now: datetime) -> bool:
    """End the opt-in at once; returns whether one was in effect (only a change is audited)."""
    _refuse_ghost(ghost)
    previous = user.support_access_opt_in_until
    if previous is None:
        return False
    user.support_access_opt_in_until = None
    was_in_effect = previous > now
    if was_in_effect:
        _audit(user, "support_access.opted_out", ip=ip, now=now, details={"was_until": previous.isoformat()})
    db.session.commit()
    return was_in_effect


def generate_code(user: User, *, ghost: bool, ip: str | None, now: datetime) -> GeneratedCode:
    """A new support access code replacing the old one, or CodeEntryLocked while entry is locked."""
    _refuse_ghost(ghost)
    tenant = user.tenant
    if not tenant.impersonation_enabled or tenant.access_policy == "off":
        raise SupportAccessOff()
    locked = throttle.locked_until(access_codes.failure_key(user.id), now)
    if locked:
        _audit(
            user,
            "access_code.generate_refused",
            ip=ip,
            now=now,
            outcome="denied",
            details={"reason": "access_code_locked", "until": locked.isoformat()},
        )
        db.session.commit()
        raise CodeEntryLocked(locked)
    replaced = access_codes.revoke_all(user.id, now=now)
    code = access_codes.generate(user, now=now)
    expires_at = now + timedelta(minutes=current_app.config["ACCESS_CODE_TTL_MINUTES"])
    _audit(
        user,
        "access_code.generated",
        ip=ip,
        now=now,
        details={"expires_at": expires_at.isoformat(), "replaced": replaced},
    )
    db.session.commit()
    return GeneratedCode(code, expires_at)


def revoke_codes(user: User, *, ghost: bool, ip: str | None, now: datetime) -> int:
    """Revoke the user's usable codes at once; returns how many (only a change is audited)."""
    _refuse_ghost(ghost)
    revoked = access_codes.revoke_all(user.id, now=now)
    if revoked:
        _audit(user, "access_code.revoked", ip=ip, now=now, details={"revoked": revoked})
    db.session.commit()
    return revoked


def set_access_notice(user: User, wanted: bool, *, ghost: bool, ip: str | None, now: datetime) -> bool:
    """Email me whenever support accesses my account: on or off; returns whether it changed."""
    _refuse_ghost(ghost)
    old = user.wants_access_notice
    if user.notify_on_access is wanted:
        return False
    user.notify_on_access = wanted  # an explicit choice: no longer follows the tenant's default
    _audit(user, "support_access.notifications_changed", ip=ip, now=now, details={"old": old, "new": wanted})
    db.session.commit()
    return old != wanted


def set_approve_each(user: User, wanted: bool, *, ghost: bool, ip: str | None, now: datetime) -> bool:
    """Approve every support request myself (DESIGN §11), where the tenant lets users choose;
    returns whether it changed. Requests already waiting keep the rules they were made under."""
    _refuse_ghost(ghost)
    if not policy.users_choose_approval(user.tenant):
        raise NotAllowed("approval_choice_off", "Your company decides how support asks for access.")
    if user.approve_each_request is wanted:
        return False
    user.approve_each_request = wanted
    _audit(user, "support_access.approval_choice_changed", ip=ip, now=now, details={"new": wanted})
    db.session.commit()
    return True


def _refuse_ghost(ghost: bool) -> None:
    if ghost:
        raise NotForGhost()


def _max_opt_in() -> timedelta:
    return timedelta(days=current_app.config["OPT_IN_MAX_DAYS"])


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _audit(
    user: User, action: str, *, ip: str | None, now: datetime, details: dict, outcome: str = "success"
) -> None:
    audit.about_user(
        action,
        user_id=user.id,
        tenant_id=user.tenant_id,
        actor=Actor.customer(user),
        at=now,
        ip=ip,
        outcome=outcome,
        details=details,
    )
