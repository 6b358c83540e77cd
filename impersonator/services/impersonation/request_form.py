"""The impersonation request as the user page's form shows it: every problem at once, each at the
field it concerns (issue 13).

`lifecycle.request` still checks one thing after another, audits the first refusal and spends no
code on a request that cannot succeed (DESIGN I1, I6). `problems` adds to that refusal whatever else
is wrong with what was typed, without using a code or writing anything, so the person fixes it all in
one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

from impersonator.models import MODES
from impersonator.services.consent import access_codes
from impersonator.services.errors import DomainError, InvalidInput
from impersonator.services.impersonation import policy
from impersonator.services.validation import clean_text

if TYPE_CHECKING:
    from impersonator.services.impersonation.lifecycle import Request

DURATIONS = (15, 30, 60)
# The form's fields, in the order the page shows them.
FIELDS = (
    "reason_code",
    "justification",
    "ticket",
    "duration",
    "mode",
    "access_code",
    "break_glass",
    "totp_code",
)
# Refusals raised elsewhere (policy, the TOTP and access-code services, locks), by the field they concern.
REASON_FIELDS = {
    "mode_not_allowed": "mode",
    "consent_needed": "access_code",
    "code_needed": "access_code",
    "access_code_locked": "access_code",
    "access_code_malformed": "access_code",
    "access_code_wrong": "access_code",
    "access_code_expired": "access_code",
    "totp_malformed": "totp_code",
    "totp_wrong": "totp_code",
    "totp_replayed": "totp_code",
    "bad_reason_code": "reason_code",
    "reason_code_not_allowed": "reason_code",
    "ticket_required": "ticket",
    "ticket_malformed": "ticket",
    "break_glass_needs_incident": "reason_code",
    "break_glass_not_needed": "break_glass",
    "break_glass_review_pending": "break_glass",
}
_TOTP_MALFORMED = "Enter the 6-digit code from your authenticator app."


class FieldProblem(InvalidInput):
    """A typed value breaks a rule of its own; `field` names the form field it came from."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(reason, message)
        self.field = field


@dataclass(frozen=True)
class Problems:
    """What the page shows: one message per field (in the form's order), and the rest."""

    fields: dict[str, str]
    general: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.fields) + len(self.general)


def well_formed(ask: Request) -> tuple[tuple[str, str | None], list[FieldProblem]]:
    """The cleaned justification and ticket, and every problem of the justification, ticket, mode and
    duration (I6: the justification long enough once trimmed), in the form's order."""
    config = current_app.config
    found: list[FieldProblem] = []
    justification, ticket = "", None
    try:
        justification = clean_text(
            ask.justification,
            "Justification",
            max_length=config["JUSTIFICATION_MAX_CHARS"],
            allow_newlines=True,
        )
        if len(justification) < config["JUSTIFICATION_MIN_CHARS"]:
            found.append(
                FieldProblem(
                    "justification",
                    "justification_too_short",
                    f"Justification must be at least {config['JUSTIFICATION_MIN_CHARS']} characters.",
                )
            )
    except InvalidInput as bad:
        found.append(FieldProblem("justification", bad.reason, bad.message))
    try:
        ticket = clean_text(ask.ticket, "Ticket reference", max_length=100, required=False) or None
    except InvalidInput as bad:
        found.append(FieldProblem("ticket", bad.reason, bad.message))
    if ask.mode not in MODES:
        found.append(FieldProblem("mode", "bad_mode", "Choose read-only or full mode."))
    if ask.duration_minutes not in DURATIONS or ask.duration_minutes > config["SESSION_MAX_MINUTES"]:
        found.append(FieldProblem("duration", "bad_duration", "Choose a duration of 15, 30 or 60 minutes."))
    return (justification, ticket), found


def _codes(ask: Request, *, needs_code: bool, code_always: bool) -> list[FieldProblem]:
    """The codes as typed: the customer's code present and well formed where it is needed, the
    authenticator code six ASCII digits. Nothing is looked up or used here."""
    found: list[FieldProblem] = []
    if needs_code:
        if not (ask.access_code or "").strip():
            reason = "code_needed" if code_always else "consent_needed"
            found.append(FieldProblem("access_code", reason, policy.DENIALS[reason]))
        else:
            try:
                access_codes.normalise(ask.access_code)
            except DomainError as bad:
                found.append(FieldProblem("access_code", bad.reason, bad.message))
    totp = (ask.totp_code or "").strip(" \t\r\n")
    if len(totp) != 6 or not all("0" <= ch <= "9" for ch in totp):
        found.append(FieldProblem("totp_code", "totp_malformed", _TOTP_MALFORMED))
    return found


def problems(ask: Request, refused: DomainError, *, needs_code: bool, code_always: bool) -> Problems:
    """The refusal at its field (or among the general messages), and every other problem of what
    was typed at its own field. `needs_code` is what the page showed: whether it asked for the code."""
    fields: dict[str, str] = {}
    general: list[str] = []
    field = getattr(refused, "field", None) or REASON_FIELDS.get(refused.reason)
    if field in FIELDS:
        fields[field] = refused.message
    else:
        general.append(refused.message)
    _, found = well_formed(ask)
    for problem in found + _codes(ask, needs_code=needs_code, code_always=code_always):
        fields.setdefault(problem.field, problem.message)  # the service's own refusal comes first
    return Problems({name: fields[name] for name in FIELDS if name in fields}, tuple(general))
