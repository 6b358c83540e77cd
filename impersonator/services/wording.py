"""The product's words for its codes: audit actions, outcomes, security alerts, modes, access routes,
impersonation states and end reasons (DESIGN §3: every end reason has one wording, used on every page
and mail that names it).

Each code has one neutral label, the words the security team reads. A few have a phrasing of their
own for one audience, where that audience is the "you" of the sentence: the staff member who
impersonated (the ghost's ended page, My impersonations) and the customer whose account it was (the
access history). Everything else every audience reads alike, so a new code is worded once, here, and
tests/services/test_wording.py fails until it is.

Unknown codes never raise: they come back with their underscores turned into spaces (an event
written by an older version, a test's `test.something`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Audience = Literal["neutral", "staff", "customer"]
AUDIENCES: tuple[Audience, ...] = ("neutral", "staff", "customer")


@dataclass(frozen=True)
class Words:
    """A code's label, and the phrasing of an audience that reads it differently (None: the label)."""

    label: str
    staff: str | None = None  # the staff member who impersonated
    customer: str | None = None  # the customer whose account it was

    def to(self, audience: Audience) -> str:
        """The words for `audience`."""
        return (getattr(self, audience, None) if audience != "neutral" else None) or self.label


# --- impersonations -------------------------------------------------------------------------------

# How an impersonation ended (models.END_REASONS); the customer calls staff "the support agent".
END_REASONS: dict[str, Words] = {
    "staff_ended": Words("ended by the support agent", staff="ended by you"),
    "user_revoked": Words("ended by the customer", customer="ended by you"),
    "security_terminated": Words("terminated by the security team"),
    "expired": Words("time limit reached"),
    "switched_off": Words("ended: support access was switched off"),
    "staff_disabled": Words(
        "ended: the support agent's access was withdrawn", staff="ended: your access was withdrawn"
    ),
    "totp_reset": Words(
        "ended: the support agent's authenticator was reset", staff="ended: your authenticator was reset"
    ),
    "policy_changed": Words(
        "ended: the customer's access rules changed",
        customer="ended: the access rules for your account changed",
    ),
    "wrong_tenant": Words("cancelled: the link was used on the wrong site"),
    "token_exposed": Words("cancelled: the link was sent in a web address"),
    "token_expired": Words("not used: the link expired"),
}

# models.MODES; the customer is told what the mode means for their account.
MODES: dict[str, Words] = {
    "read_only": Words("read-only", customer="read-only (no changes)"),
    "full": Words("full access", customer="full access (may make changes)"),
}

# How consent was given (Impersonation.access_via).
ACCESS_ROUTES: dict[str, Words] = {
    "opt_in": Words("customer opted in", customer="you had opted in"),
    "code": Words("support access code", customer="your support access code"),
    "approval": Words("customer approved the request", customer="you approved the request"),
    "emergency": Words("break-glass: no consent", customer="emergency access without your consent"),
}

# Why support asked (models.REASON_CODES, DESIGN §11).
REASON_CODES: dict[str, Words] = {
    "customer_request": Words("customer asked for help", customer="you asked for help"),
    "incident": Words("incident"),
    "bug_investigation": Words("bug investigation"),
    "billing": Words("billing"),
    "legal": Words("legal"),
}

# What a host app marks sensitive (models.MASK_CATEGORIES, DESIGN §13), as one value of it.
MASK_CATEGORIES: dict[str, Words] = {
    "payment": Words("payment detail"),
    "government_id": Words("government id"),
    "contact": Words("contact detail"),
    "private_notes": Words("private note"),
}

# ApprovalRequest.state (models.APPROVAL_STATES).
APPROVAL_STATES: dict[str, Words] = {
    "pending": Words("waiting for approval"),
    "approved": Words("approved: ready to start"),
    "used": Words("approved and used"),
    "denied": Words("denied"),
    "expired": Words("expired"),
    "withdrawn": Words("withdrawn"),
    "cancelled": Words("cancelled"),
}

# Impersonation.state().
STATES: dict[str, Words] = {
    "issued": Words("link issued, not used yet"),
    "expired_unredeemed": Words("link expired unused"),
    "active": Words("active"),
    "ended": Words("ended"),
}

# What impersonating a user needs right now (policy.AccessState.code), as the search results' badge
# shows it.
ACCESS_STATES: dict[str, Words] = {
    "opted_in": Words("opted in"),
    "code_needed": Words("code needed"),
    "tenant_off": Words("not allowed"),
    "switched_off": Words("not allowed"),
    "inactive": Words("inactive"),
    "approval_needed": Words("customer approves"),
}

# The impersonation form: a support access code that was right but ran out while the form was open.
ACCESS_CODE_EXPIRED = "That code has expired — use the current one."

# --- the audit log --------------------------------------------------------------------------------

OUTCOMES: dict[str, Words] = {
    "success": Words("succeeded"),
    "failure": Words("failed"),
    "denied": Words("denied"),
}

# Every action the code records (tests/services/test_wording.py reads them from the source).
ACTIONS: dict[str, Words] = {
    "impersonation.requested": Words("Impersonation requested"),
    "impersonation.denied": Words("Impersonation denied"),
    "impersonation.started": Words("Impersonation started"),
    "impersonation.ended": Words("Impersonation ended"),
    "impersonation.redeem_failed": Words("Impersonation link refused"),
    "impersonation.token_expired": Words("Impersonation link expired unused"),
    "impersonation.revealed": Words("Masked value revealed"),
    "impersonation.reveal_refused": Words("Reveal of a masked value refused"),
    "approval.requested": Words("Approval requested"),
    "approval.approved": Words("Request approved"),
    "approval.denied": Words("Request denied"),
    "approval.expired": Words("Request expired"),
    "approval.withdrawn": Words("Request withdrawn"),
    "approval.cancelled": Words("Request cancelled"),
    "approval.reviewed": Words("Break-glass reviewed"),
    "access_code.generated": Words("Support access code generated"),
    "access_code.generate_refused": Words("Support access code not generated"),
    "access_code.revoked": Words("Support access code revoked"),
    "access_code.locked": Words("Support access code locked"),
    "support_access.opted_in": Words("Customer opted in to support access"),
    "support_access.opted_out": Words("Customer opted out of support access"),
    "support_access.notifications_changed": Words("Customer changed access emails"),
    "support_access.approval_choice_changed": Words("Customer changed who approves support access"),
    "customer.locked": Words("Customer sign-in locked"),
    "staff.created": Words("Staff member added"),
    "staff.invite_issued": Words("Staff invitation issued"),
    "staff.enrolment_link_used": Words("Enrolment link used"),
    "staff.enrolment_refused": Words("Enrolment refused"),
    "staff.totp_enrolled": Words("Authenticator set up"),
    "staff.totp_reset": Words("Authenticator reset"),
    "staff.role_changed": Words("Staff role changed"),
    "staff.approver_changed": Words("Staff approver setting changed"),
    "staff.disabled": Words("Staff member disabled"),
    "staff.signed_in": Words("Signed in"),
    "staff.signed_out": Words("Signed out"),
    "staff.sign_in_failed": Words("Sign-in failed"),
    "staff.session_ended": Words("Console session ended"),
    "staff.throttled": Words("Sign-ins slowed down"),
    "staff.locked": Words("Sign-in locked"),
    "sign_in.address_throttled": Words("Sign-ins from an address slowed down"),
    "authz.denied": Words("Page refused: no permission"),
    "rate_limit.exceeded": Words("Rate limit exceeded"),
    "security.alert": Words("Security alert"),
    "audit.exported": Words("Audit log exported"),
    "settings.impersonation_switch": Words("Impersonation switched on or off"),
    "tenant.settings_changed": Words("Tenant settings changed"),
    "webhook.created": Words("Webhook added"),
    "webhook.enabled": Words("Webhook enabled"),
    "webhook.disabled": Words("Webhook disabled"),
    "webhook.deleted": Words("Webhook deleted"),
    "webhook.test_queued": Words("Webhook test sent"),
    "outbox.retried": Words("Outbox message retried"),
    "api_key.created": Words("API key created"),
    "api_key.revoked": Words("API key revoked"),
    "api.request": Words("API call"),
    "signing_key.created": Words("Act token signing key created"),
    "signing_key.rotated": Words("Act token signing keys rotated"),
}

# The `kind` of a `security.alert` event (alerts.raise_alert).
ALERTS: dict[str, Words] = {
    "token_replay": Words("impersonation link used a second time"),
    "token_in_address": Words("impersonation link sent in a web address"),
    "wrong_tenant_redemption": Words("impersonation link used on the wrong site"),
    "ghost_cookie_forged": Words("forged ghost session cookie"),
    "impersonation_rate": Words("unusually many impersonations"),
    "authz_denied_burst": Words("many refused pages in a short time"),
    "access_code_locked": Words("support access code locked after wrong tries"),
    "staff_locked": Words("staff sign-in locked"),
    "staff_throttled": Words("staff sign-ins slowed down"),
    "break_glass": Words("break-glass access requested"),
}

# Who did it, when it was not a person (Actor.system labels).
SYSTEM_ACTORS: dict[str, Words] = {
    "system": Words("the system"),
    "policy": Words("the access policy"),
    "ghost-guard": Words("the ghost guard"),
    "sweeper": Words("the sweeper"),
    "cli": Words("a console command"),
    "seed-demo": Words("the demo data"),
}

# The customer's notifications (Notification.kind), as the detail page lists those held back.
NOTIFICATIONS: dict[str, Words] = {
    "support.access_started": Words("support access started"),
    "support.access_code_locked": Words("support access codes locked"),
    "support.approval_wanted": Words("support asked for approval"),
    "support.break_glass": Words("emergency access notice"),
    "project.created": Words("project created"),
    "project.renamed": Words("project renamed"),
    "account.email_changed": Words("email address changed"),
    "account.password_changed": Words("password changed"),
}

# What an event is about, when it is not a staff member or a customer (AuditEvent.target_type).
TARGETS: dict[str, Words] = {
    "user": Words("customer"),
    "staff": Words("staff member"),
    "tenant": Words("tenant"),
    "webhook_endpoint": Words("webhook"),
    "outbox_message": Words("outbox message"),
    "api_key": Words("API key"),
}

_CODE = re.compile(r"[a-z][a-z0-9]*([_.-][a-z0-9]+)+")


def plain(code: str) -> str:
    """An unknown code, readable: `consent_needed` → `consent needed`, `test.n1` → `test: n1`."""
    return code.replace("_", " ").replace(".", ": ", 1)


def looks_like_code(text: str) -> bool:
    """`user_revoked`, `impersonation.started`: a code rather than words a person wrote."""
    return _CODE.fullmatch(text) is not None


def _word(table: dict[str, Words], code: str | None, audience: Audience, default: str = "") -> str:
    if not code:
        return default
    words = table.get(code)
    return words.to(audience) if words else plain(code)


def end_reason(code: str | None, audience: Audience = "neutral") -> str:
    """How an impersonation ended, as a phrase (`ended by the customer`); None: still open."""
    return _word(END_REASONS, code, audience)


def end_sentence(code: str | None, audience: Audience = "neutral") -> str:
    """The same words as a sentence (`Ended by the customer.`), for a message of its own."""
    phrase = end_reason(code, audience) or "ended"
    return phrase[0].upper() + phrase[1:] + "."


def mode(code: str | None, audience: Audience = "neutral") -> str:
    """`read-only` or `full access`."""
    return _word(MODES, code, audience)


def access_route(code: str | None, audience: Audience = "neutral") -> str:
    """How the customer's consent was given."""
    return _word(ACCESS_ROUTES, code, audience)


def reason_code(code: str | None, audience: Audience = "neutral") -> str:
    """Why support asked, in words."""
    return _word(REASON_CODES, code, audience)


def mask_category(code: str | None) -> str:
    """A kind of sensitive value, as one of it (`payment detail`)."""
    return _word(MASK_CATEGORIES, code, "neutral")


def approval_state(code: str | None) -> str:
    """Where an approval request stands, in words."""
    return _word(APPROVAL_STATES, code, "neutral")


def state(code: str | None) -> str:
    """An impersonation's state (Impersonation.state())."""
    return _word(STATES, code, "neutral")


def access_state(code: str | None) -> str:
    """A user's support access state as a badge reads (`opted in`, `code needed`, `not allowed`)."""
    return _word(ACCESS_STATES, code, "neutral")


def outcome(code: str | None) -> str:
    """`succeeded`, `failed`, `denied`."""
    return _word(OUTCOMES, code, "neutral")


def action(code: str | None) -> str:
    """An audit action (`Impersonation started`)."""
    return _word(ACTIONS, code, "neutral")


def alert(code: str | None) -> str:
    """The kind of a security alert."""
    return _word(ALERTS, code, "neutral")


def notification(code: str | None) -> str:
    """What a notification to the customer was about."""
    return _word(NOTIFICATIONS, code, "neutral")


def target(code: str | None) -> str:
    """What kind of thing an event is about (`webhook`)."""
    return _word(TARGETS, code, "neutral")


def system_actor(label: str | None) -> str:
    """A system actor (`the sweeper`)."""
    return _word(SYSTEM_ACTORS, label, "neutral", default="the system")


def for_audience(table: dict[str, Words], audience: Audience) -> dict[str, str]:
    """A whole table in one audience's words (code → words)."""
    return {code: words.to(audience) for code, words in table.items()}


# The keys of an audit event's details; a key not listed reads as itself, underscores as spaces.
DETAIL_KEYS: dict[str, Words] = {
    "access_via": Words("Consent"),
    "duration_minutes": Words("Minutes asked"),
    "expires_at": Words("Ends at"),
    "category": Words("Kind of value"),
    "key": Words("Value"),
    "kind": Words("Alert"),
    "mode": Words("Mode"),
    "note": Words("Note"),
    "reason": Words("Why"),
    "refusal": Words("Refused because"),
    "request_id": Words("Request id"),
    "scope": Words("Revealed"),
    "ticket": Words("Ticket"),
    "token_expired_at": Words("Link expired at"),
    "until": Words("Until"),
    "was_until": Words("Had opted in until"),
}


def detail_key(key: str) -> str:
    """The label of a key of an audit event's details (`access_via` → `Consent`)."""
    words = DETAIL_KEYS.get(key)
    return words.label if words else key.replace("_", " ").capitalize()
