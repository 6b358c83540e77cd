"""Console forms."""

from __future__ import annotations

from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, StringField, TextAreaField

from impersonator.forms import EmailAddress, Password, TextForm
from impersonator.models import REASON_CODES
from impersonator.services import wording


class SignInForm(TextForm):
    email = StringField("Email", validators=[EmailAddress()])
    password = PasswordField("Password", validators=[Password()])


class TotpForm(TextForm):
    # Checked by the TOTP service, which owns the exact rule (six ASCII digits, DESIGN I6).
    code = StringField("Authenticator code")


class ConfirmForm(TextForm):
    """A button that changes something: only the CSRF token travels."""


def _whole_number(value: object) -> int | None:
    """Coerce a posted duration; anything that is not a small whole number becomes None."""
    if isinstance(value, int):
        return value
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None


class ImpersonateForm(TextForm):
    """The impersonation request. The service re-checks every value (DESIGN I6): these fields only
    carry what was typed."""

    justification = TextAreaField("Justification")
    ticket = StringField("Ticket reference (optional)")
    # validate_choice=False: a value outside the list reaches the service, which refuses it with a
    # reason code and audits the denial (a form-level refusal would leave no trace, DESIGN I1).
    duration = SelectField(
        "Duration",
        choices=[SelectChoice(str(m), f"{m} minutes") for m in (15, 30, 60)],
        coerce=_whole_number,
        default=60,
        validate_choice=False,
    )
    mode = SelectField(
        "Mode",
        choices=[SelectChoice("read_only", "Read-only"), SelectChoice("full", "Full access")],
        default="read_only",
        validate_choice=False,
    )
    access_code = StringField("Support access code")
    totp_code = StringField("Authenticator code")
    # validate_choice=False, as above: an unknown reason reaches the service, which audits it.
    reason_code = SelectField(
        "Reason",
        choices=[SelectChoice(code, wording.reason_code(code).capitalize()) for code in REASON_CODES],
        default="customer_request",
        validate_choice=False,
    )
    break_glass = BooleanField("Break glass: an emergency without the customer's consent")
