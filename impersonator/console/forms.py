"""Console forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from impersonator.forms import EmailAddress, Password


class SignInForm(FlaskForm):
    email = StringField("Email", validators=[EmailAddress()])
    password = PasswordField("Password", validators=[Password()])


class TotpForm(FlaskForm):
    # Checked by the TOTP service, which owns the exact rule (six ASCII digits, DESIGN I6).
    code = StringField("Authenticator code")


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token travels."""
