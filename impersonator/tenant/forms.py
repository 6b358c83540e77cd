"""Tenant-face forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from impersonator.forms import EmailAddress, Password, Readable


class CustomerSignInForm(FlaskForm):
    email = StringField("Email", validators=[EmailAddress()])
    password = PasswordField("Password", validators=[Password()])


class ProjectForm(FlaskForm):
    """A project's name, to create one or to rename one."""

    name = StringField("Project name", validators=[Readable("Project name", 200)])


class NameForm(FlaskForm):
    name = StringField("Name", validators=[Readable("Name", 200)])


class EmailForm(FlaskForm):
    email = StringField("New email", validators=[EmailAddress()])
    current_password = PasswordField("Your password", validators=[Password()])


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[Password()])
    new_password = PasswordField("New password", validators=[Password()])
    confirm_password = PasswordField("Repeat the new password", validators=[Password()])
