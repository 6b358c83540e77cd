"""Tenant-face forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from impersonator.forms import EmailAddress, Password


class CustomerSignInForm(FlaskForm):
    email = StringField("Email", validators=[EmailAddress()])
    password = PasswordField("Password", validators=[Password()])
