"""What a request needs before a token exists (DESIGN §11): its reason code and ticket, who must
approve it, whether it breaks glass, and who may decide. Pure rules over rows; no writes here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select

from impersonator.extensions import db
from impersonator.models import REASON_CODES, ApprovalRequest, Staff, Tenant, User
from impersonator.services.errors import InvalidInput, NotAllowed
from impersonator.services.impersonation import policy
from impersonator.services.staff.roles import Permission, allows

TICKET_PATTERN_MAX = 200


@dataclass(frozen=True)
class Needs:
    """Who must decide before the requester may start, and how the customer consents."""

    customer: bool
    staff: bool
    consent: str  # opt_in | code | approval | emergency (models.approval.CONSENT_KINDS)

    @property
    def any(self) -> bool:
        return self.customer or self.staff


def allowed_reason_codes(tenant: Tenant) -> tuple[str, ...]:
    """The codes this tenant allows, in the product's order (every code unless it chose some)."""
    if not tenant.reason_codes:
        return REASON_CODES
    chosen = set(tenant.reason_codes.split())
    return tuple(code for code in REASON_CODES if code in chosen)


def check_reason_code(tenant: Tenant, reason_code: str | None) -> str:
    """The request's reason code, known and allowed by the user's tenant."""
    if reason_code not in REASON_CODES:
        raise InvalidInput("bad_reason_code", "Choose a reason from the list.")
    if reason_code not in allowed_reason_codes(tenant):
        raise NotAllowed("reason_code_not_allowed", "This company does not allow that reason.")
    return reason_code


def check_ticket(tenant: Tenant, ticket: str | None) -> None:
    """A ticket id where the tenant requires one, matching its pattern in full."""
    if not tenant.ticket_pattern:
        return
    if not ticket:
        raise InvalidInput("ticket_required", "This company requires a ticket id with every request.")
    if re.fullmatch(tenant.ticket_pattern, ticket) is None:
        raise InvalidInput("ticket_malformed", "That ticket id does not have this company's format.")


def valid_ticket_pattern(pattern: str | None) -> str | None:
    """An admin's ticket pattern, compiled once to prove it is a regular expression (None: none)."""
    pattern = (pattern or "").strip()
    if not pattern:
        return None
    if len(pattern) > TICKET_PATTERN_MAX:
        raise InvalidInput(
            "ticket_pattern_too_long", f"Keep the pattern under {TICKET_PATTERN_MAX} characters."
        )
    try:
        re.compile(pattern)
    except re.error as problem:
        raise InvalidInput("ticket_pattern_invalid", f"That is not a valid pattern: {problem}.") from problem
    return pattern


def second_person_needed(tenant: Tenant, mode: str) -> bool:
    """Two-person approval: for every request where the tenant says so, else for full mode."""
    return tenant.two_person == "always" or mode == "full"


def needs(user: User, mode: str, *, break_glass: bool, now: datetime) -> Needs:
    """Who must approve a request for `user` in `mode`. Break-glass replaces the customer's consent
    of every kind by a second person's approval; it never replaces the switches (checked before)."""
    if break_glass:
        return Needs(customer=False, staff=True, consent="emergency")
    staff = second_person_needed(user.tenant, mode)
    if policy.customer_approves(user):
        return Needs(customer=True, staff=staff, consent="approval")
    return Needs(customer=False, staff=staff, consent="code" if policy.code_required(user, now) else "opt_in")


def check_break_glass(staff: Staff, user: User, reason_code: str, *, now: datetime) -> None:
    """Break-glass only with reason `incident`, only on an account that has not consented, and
    only once the requester's last break-glass has been reviewed by a security officer."""
    if reason_code != "incident":
        raise NotAllowed(
            "break_glass_needs_incident", "Break-glass is only for incidents: choose that reason."
        )
    if not policy.customer_approves(user) and not policy.code_required(user, now):
        raise NotAllowed("break_glass_not_needed", "This user has opted in: no need to break glass.")
    if review_outstanding(staff.id):
        raise NotAllowed(
            "break_glass_review_pending",
            "Your last break-glass access has not been reviewed yet: a security officer must review it "
            "before you can break glass again.",
        )


def review_outstanding(staff_id: int) -> bool:
    """Has this staff member a break-glass request that was used, or could still be, and has no
    review? (One still pending or approved counts: two emergencies at once is a second glass.)"""
    return db.session.scalar(
        select(
            exists().where(
                ApprovalRequest.staff_id == staff_id,
                ApprovalRequest.break_glass.is_(True),
                ApprovalRequest.state.in_(("pending", "approved", "used")),
                ApprovalRequest.reviewed_at.is_(None),
            )
        )
    )


def may_approve(staff: Staff) -> bool:
    """Security officers and admins approve; an impersonator only when an admin said so (§7)."""
    if not staff.active or not allows(staff.role, Permission.APPROVE):
        return False
    return staff.may_approve or allows(staff.role, Permission.AUDIT)
