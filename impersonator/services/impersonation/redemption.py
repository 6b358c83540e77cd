"""Redeeming a one-time token on a tenant domain (DESIGN I2, I3): the signature first, then the
audience, then one conditional UPDATE that decides, whatever runs in parallel, then the rules again.
Every refusal is audited; a replay or a token on the wrong tenant is also a security alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload

from impersonator.extensions import db
from impersonator.models import Impersonation, Setting, Tenant
from impersonator.services import audit
from impersonator.services.admin.settings import IMPERSONATION_ENABLED
from impersonator.services.audit import Actor, alerts
from impersonator.services.customer import notifications
from impersonator.services.errors import DomainError, NotAllowed
from impersonator.services.impersonation import ghost, lifecycle, policy, tokens
from impersonator.services.secret_text import same_secret


class TokenUsed(DomainError):
    status = 410

    def __init__(self) -> None:
        super().__init__(
            "replayed", "This impersonation link was already used. Start again from the console."
        )


class TokenEndedEarly(DomainError):
    status = 410

    def __init__(self) -> None:
        super().__init__(
            "ended_before_redemption",
            "This impersonation was ended before it started. Start again from the console.",
        )


class TokenCancelled(DomainError):
    """Cancelled before use because it was seen where it does not belong (another tenant's site)."""

    status = 410

    def __init__(self) -> None:
        super().__init__(
            "cancelled",
            "This impersonation link can no longer be used: it was cancelled for safety after it was "
            "opened in the wrong place. Start again from the console.",
        )


class WrongTenant(NotAllowed):
    def __init__(self) -> None:
        super().__init__(
            "wrong_tenant", "This impersonation link belongs to another site. It can no longer be used."
        )


@dataclass(frozen=True)
class Redeemed:
    """A ghost session just started: the cookie keeps both values, the database the secret's hash."""

    impersonation_id: int
    ghost_secret: str


def redeem(
    token: str | None, *, tenant: Tenant, hostname: str, ip: str | None, user_agent: str | None, now: datetime
) -> Redeemed:
    """Turn a token into an active impersonation, once ever (I2), on its tenant only (I3)."""
    claims = _verified_claims(token, tenant=tenant, ip=ip, now=now)
    imp, switch_on, started_before = _impersonation_named_by(claims, tenant=tenant, ip=ip, now=now)
    _check_audience(imp, claims, tenant=tenant, hostname=hostname, ip=ip, now=now)
    expires_at, ghost_secret = _claim_once(imp, claims, tenant=tenant, ip=ip, user_agent=user_agent, now=now)
    _recheck_standing(imp, switch_on=switch_on, ip=ip, now=now)
    return _start_session(imp, expires_at, ghost_secret, started_before=started_before, ip=ip, now=now)


def _verified_claims(token: str | None, *, tenant: Tenant, ip: str | None, now: datetime) -> tokens.Claims:
    """The token's claims, read only after its signature and time window hold (I3): first, because
    nothing in a token is looked at before it is known to be ours."""
    try:
        return tokens.read(token, now=now)
    except (tokens.TokenExpired, tokens.TokenNotYetValid) as refused:
        _redeem_failed(refused.claims.impersonation_id, tenant, refused.reason, ip, now)
        raise
    except tokens.TokenInvalid:
        _redeem_failed(None, tenant, "forged", ip, now)
        raise


def _impersonation_named_by(
    claims: tokens.Claims, *, tenant: Tenant, ip: str | None, now: datetime
) -> tuple[Impersonation, bool, int]:
    """The impersonation the claims name, with the global switch and the staff member's recent
    starts (see _load); a good signature over another token's id is refused as a forgery."""
    imp, switch_on, started_before = _load(claims.impersonation_id, now)
    if imp is None or not same_secret(claims.jti, imp.token_jti):
        _redeem_failed(None, tenant, "forged", ip, now)
        raise tokens.TokenInvalid()
    return imp, switch_on, started_before


def _check_audience(
    imp: Impersonation, claims: tokens.Claims, *, tenant: Tenant, hostname: str, ip: str | None, now: datetime
) -> None:
    """Accept the token on a domain of its target's tenant only (I3); checked before the claim, so a
    token seen on another tenant is burned instead of redeemed."""
    # `hostname` is a domain of `tenant` already (the host was resolved through the registry).
    audience_ok = claims.audience == hostname or claims.audience in {d.domain for d in tenant.domains}
    if imp.tenant_id != tenant.id or not audience_ok:
        _burn_wrong_tenant(imp, tenant, hostname, ip, now)
        raise WrongTenant()


def _claim_once(
    imp: Impersonation,
    claims: tokens.Claims,
    *,
    tenant: Tenant,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> tuple[datetime, str]:
    """The one redemption (I2): a single conditional UPDATE decides, whatever runs in parallel, and
    only its winner goes on; returns the session's end and the ghost cookie's secret."""
    session_minutes = min(imp.duration_minutes, current_app.config["SESSION_MAX_MINUTES"])
    expires_at = now + timedelta(minutes=session_minutes)
    ghost_secret = ghost.new_secret()
    claimed = db.session.execute(
        _CLAIM,
        {
            "impersonation_id": imp.id,
            "now": now,
            "expires_at": expires_at,
            "ip": ip,
            "user_agent": (user_agent or "")[:300] or None,
            "ghost_secret_hash": ghost.secret_hash(ghost_secret),
        },
    )
    if claimed.rowcount != 1:
        _refuse_unclaimed(imp, claims, tenant=tenant, ip=ip, now=now)
    return expires_at, ghost_secret


def _refuse_unclaimed(
    imp: Impersonation, claims: tokens.Claims, *, tenant: Tenant, ip: str | None, now: datetime
) -> NoReturn:
    """Audit why the UPDATE found nothing to claim (a replay, expiry, an end before use) and raise
    the refusal that says so."""
    db.session.refresh(imp)
    reason = _why_not_redeemable(imp)
    _redeem_failed(imp.id, tenant, reason, ip, now)
    raise {
        "expired": tokens.TokenExpired(claims),
        "ended_before_redemption": TokenEndedEarly(),
        "cancelled": TokenCancelled(),
    }.get(reason, TokenUsed())


def _recheck_standing(imp: Impersonation, *, switch_on: bool, ip: str | None, now: datetime) -> None:
    """The staff member and the target are checked again (I5, I6): the world may have changed since
    issue. After the claim, so a refused token is used up and its impersonation ended, audited."""
    try:
        policy.check_staff(imp.staff, imp.mode)
        policy.check_target(imp.user, now, switch_on=switch_on)
    except policy.PolicyDenied as denied:
        # The staff member lost the standing to hold this session: the same end as on the ghost path.
        end_reason = {
            "switched_off": "switched_off",
            "staff_inactive": "staff_disabled",
            "mode_not_allowed": "staff_disabled",
        }.get(denied.reason, "policy_changed")
        lifecycle.end_in_transaction(imp, end_reason, Actor.system("policy"), ip=ip, now=now)
        audit.about_user(
            "impersonation.redeem_failed",
            user_id=imp.user_id,
            tenant_id=imp.tenant_id,
            actor=Actor.staff(imp.staff),
            at=now,
            ip=ip,
            outcome="denied",
            details={"impersonation_id": imp.id, "reason": denied.reason},
        )
        db.session.commit()
        raise


def _start_session(
    imp: Impersonation,
    expires_at: datetime,
    ghost_secret: str,
    *,
    started_before: int,
    ip: str | None,
    now: datetime,
) -> Redeemed:
    """Audit the start, check the staff member's pace, tell the customer, then commit: the claim,
    its audit event and its outbox messages become visible together (I1, I10)."""
    audit.about_user(
        "impersonation.started",
        user_id=imp.user_id,
        tenant_id=imp.tenant_id,
        actor=Actor.staff(imp.staff),
        at=now,
        ip=ip,
        details={"impersonation_id": imp.id, "mode": imp.mode, "expires_at": expires_at.isoformat()},
    )
    alerts.check_impersonation_rate(
        imp.staff_id, Actor.staff(imp.staff), started_last_hour=started_before + 1, now=now, ip=ip
    )
    notifications.access_notice(imp, ends_at=expires_at, now=now)
    impersonation_id = imp.id  # read before the commit expires the row: no extra round trip
    db.session.commit()
    return Redeemed(impersonation_id, ghost_secret)


def _load(impersonation_id: int, now: datetime) -> tuple[Impersonation | None, bool, int]:
    """The row, the two people the rules look at again, the tenant's domains (the audience check
    and the access notice's links read them), the global switch, and how many impersonations the
    staff member started in the last hour (the rate alert), in one round trip."""
    params = {"impersonation_id": impersonation_id, **alerts.started_since_params(now)}
    row = db.session.execute(_LOAD, params).unique().one_or_none()
    return (row[0], row[1] != "off", row[2]) if row else (None, True, 0)


# Built once, like every statement on this path: building one costs about a third of running it.
_LOAD = (
    select(
        Impersonation,
        select(Setting.value).where(Setting.key == IMPERSONATION_ENABLED).scalar_subquery(),
        alerts.started_since(Impersonation.staff_id),
    )
    .options(
        joinedload(Impersonation.staff),
        joinedload(Impersonation.user),
        joinedload(Impersonation.tenant).joinedload(Tenant.domains),
    )
    .where(Impersonation.id == bindparam("impersonation_id"))
)
_CLAIM = (
    update(Impersonation)
    .where(
        Impersonation.id == bindparam("impersonation_id"),
        Impersonation.redeemed_at.is_(None),
        Impersonation.ended_at.is_(None),
        Impersonation.token_expires_at > bindparam("now"),
    )
    .values(
        redeemed_at=bindparam("now"),
        expires_at=bindparam("expires_at"),
        redeem_ip=bindparam("ip"),
        redeem_user_agent=bindparam("user_agent"),
        ghost_secret_hash=bindparam("ghost_secret_hash"),
    )
    .execution_options(synchronize_session=False)
)


# End reasons that cancel a token before use because it was seen where it does not belong.
CANCELLING_END_REASONS = frozenset({"wrong_tenant", "token_exposed"})


def _why_not_redeemable(imp: Impersonation) -> str:
    """Why the conditional UPDATE found nothing to claim."""
    if imp.redeemed_at is None and (imp.ended_at is None or imp.end_reason == "token_expired"):
        return "expired"  # (the sweep records a lapsed token as ended, "token_expired")
    if imp.redeemed_at is None and imp.end_reason in CANCELLING_END_REASONS:
        return "cancelled"  # someone holds a token that went astray: an alert, like a replay
    if imp.redeemed_at is None:
        return "ended_before_redemption"  # ended from the console before use: not a replay
    return "replayed"


def _redeem_failed(
    impersonation_id: int | None, tenant: Tenant, reason: str, ip: str | None, now: datetime
) -> None:
    db.session.rollback()
    imp = db.session.get(Impersonation, impersonation_id) if impersonation_id else None
    actor = _audit_refusal(
        imp, tenant, {"impersonation_id": impersonation_id, "reason": reason}, ip=ip, now=now
    )
    if reason in ("replayed", "cancelled"):
        alerts.raise_alert(
            "token_replay",
            actor=actor,
            at=now,
            ip=ip,
            tenant_id=tenant.id,
            details={"impersonation_id": impersonation_id},
        )
    db.session.commit()


def cancel_exposed(token: str | None, *, tenant: Tenant, ip: str | None, now: datetime) -> None:
    """A token that arrived in a web address (a query string) is in access logs, proxies and
    browser history by now: its impersonation is cancelled before anyone can redeem it, the attempt
    is audited and raises a security alert (I3: tokens travel in a form's body only)."""
    try:
        claims = tokens.read(token, now=now)
    except (tokens.TokenExpired, tokens.TokenNotYetValid) as unusable:
        claims = unusable.claims  # well signed: still cancel it, whatever its age
    except tokens.TokenInvalid:
        claims = None
    db.session.rollback()
    imp = db.session.get(Impersonation, claims.impersonation_id) if claims else None
    if imp is not None and not same_secret(claims.jti, imp.token_jti):
        imp = None  # a good signature over another token's id: a forgery, cancels nothing
    if imp is not None:
        _cancel_unredeemed(imp.id, "token_exposed", now=now)
    details = {"impersonation_id": imp.id if imp else None, "reason": "token_in_address"}
    actor = _audit_refusal(imp, tenant, details, ip=ip, now=now)
    alerts.raise_alert("token_in_address", actor=actor, at=now, ip=ip, tenant_id=tenant.id, details=details)
    db.session.commit()


def _cancel_unredeemed(impersonation_id: int, end_reason: str, *, now: datetime) -> None:
    """End an impersonation whose token was never redeemed: that token can no longer be used."""
    db.session.execute(
        update(Impersonation)
        .where(
            Impersonation.id == impersonation_id,
            Impersonation.redeemed_at.is_(None),
            Impersonation.ended_at.is_(None),
        )
        .values(ended_at=now, end_reason=end_reason)
        .execution_options(synchronize_session=False)
    )


def _audit_refusal(
    imp: Impersonation | None, tenant: Tenant, details: dict, *, ip: str | None, now: datetime
) -> Actor:
    """The `impersonation.redeem_failed` event (on the staff member, when the token named one)."""
    actor = Actor.staff(imp.staff) if imp else Actor.anonymous(ip or "unknown")
    audit.record(
        "impersonation.redeem_failed",
        actor=actor,
        at=now,
        ip=ip,
        outcome="denied",
        target_type="user" if imp else None,
        target_id=imp.user_id if imp else None,
        tenant_id=tenant.id,
        details=details,
    )
    return actor


def _burn_wrong_tenant(
    imp: Impersonation, tenant: Tenant, hostname: str, ip: str | None, now: datetime
) -> None:
    """A token presented on another tenant's domain is burned and raises a security event (I3)."""
    db.session.rollback()
    _cancel_unredeemed(imp.id, "wrong_tenant", now=now)
    actor = Actor.staff(imp.staff)
    audit.about_user(
        "impersonation.redeem_failed",
        user_id=imp.user_id,
        tenant_id=tenant.id,
        actor=actor,
        at=now,
        ip=ip,
        outcome="denied",
        details={"impersonation_id": imp.id, "reason": "wrong_tenant", "host": hostname},
    )
    alerts.raise_alert(
        "wrong_tenant_redemption",
        actor=actor,
        at=now,
        ip=ip,
        tenant_id=tenant.id,
        details={"impersonation_id": imp.id, "host": hostname, "token_tenant_id": imp.tenant_id},
    )
    db.session.commit()
