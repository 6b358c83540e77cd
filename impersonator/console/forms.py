"""Console forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField

from impersonator.forms import EmailAddress, Password


class SignInForm(FlaskForm):
    email = StringField("Email", validators=[EmailAddress()])
    password = PasswordField("Password", validators=[Password()])


class TotpForm(FlaskForm):
    # Checked by the TOTP service, which owns the exact rule (six ASCII digits, DESIGN I6).
    code = StringField("Authenticator code")


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token travels."""


class ImpersonateForm(FlaskForm):
    """The impersonation request. The service re-checks every value (DESIGN I6): these fields only
    carry what was typed."""

    justification = TextAreaField("Justification")
    ticket = StringField("Ticket reference (optional)")
    duration = SelectField(
        "Duration",
        choices=[(15, "15 minutes"), (30, "30 minutes"), (60, "60 minutes")],
        coerce=int,
        default=60,
    )
    mode = SelectField(
        "Mode", choices=[("read_only", "Read-only"), ("full", "Full access")], default="read_only"
    )
    access_code = StringField("Support access code")
    totp_code = StringField("Authenticator code")
