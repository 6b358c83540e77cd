"""Forms of the approvals pages (DESIGN §11). The services re-check every value."""

from __future__ import annotations

from wtforms import SelectChoice, SelectField, StringField, TextAreaField

from impersonator.forms import Readable, TextForm
from impersonator.services.approvals.decisions import NOTE_MAX


def _minutes(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None


class DecideForm(TextForm):
    """A second staff member's decision: approve (optionally narrower) or deny, with a note."""

    decision = SelectField(
        "Decision",
        choices=[SelectChoice("approve", "Approve"), SelectChoice("deny", "Deny")],
        validate_choice=True,
    )
    mode = SelectField("Mode to grant", validate_choice=False)
    duration = SelectField("Duration to grant", coerce=_minutes, validate_choice=False)
    note = TextAreaField(
        "Note (optional)", validators=[Readable("Note", NOTE_MAX, required=False, allow_newlines=True)]
    )

    def offer(self, asked_mode: str, asked_minutes: int) -> DecideForm:
        """Offer the asked mode and duration, and only narrower ones."""
        modes = [("read_only", "Read-only")] + ([("full", "Full access")] if asked_mode == "full" else [])
        self.mode.choices = [SelectChoice(value, label) for value, label in reversed(modes)]
        minutes = [m for m in (15, 30, 60) if m < asked_minutes] + [asked_minutes]
        self.duration.choices = [
            SelectChoice(str(m), f"{m} minutes") for m in sorted(set(minutes), reverse=True)
        ]
        if self.mode.data is None:
            self.mode.data = asked_mode
        if self.duration.data is None:
            self.duration.data = asked_minutes
        return self


class StartForm(TextForm):
    """Starting an approved request: a fresh authenticator code, like every impersonation."""

    totp_code = StringField("Authenticator code")


class ReviewForm(TextForm):
    """The security officer's post-incident review of a break-glass access."""

    note = TextAreaField("Review", validators=[Readable("Review", 5000, allow_newlines=True)])
