"""The demo tenant app's own forms (the Support access forms are the kit's: kit/forms.py)."""

from __future__ import annotations

from wtforms import PasswordField, StringField, TextAreaField

from impersonator.forms import EmailAddress, Password, Readable, TextForm


class CustomerSignInForm(TextForm):
    email = StringField("Email", validators=[EmailAddress()])
    password = PasswordField("Password", validators=[Password()])


class ProjectForm(TextForm):
    """A project's name, to create one or to rename one."""

    name = StringField("Project name", validators=[Readable("Project name", 200)])


class NameForm(TextForm):
    name = StringField("Name", validators=[Readable("Name", 200)])


class EmailForm(TextForm):
    email = StringField("New email", validators=[EmailAddress()])
    current_password = PasswordField("Your password", validators=[Password()])


class PasswordForm(TextForm):
    current_password = PasswordField("Current password", validators=[Password()])
    new_password = PasswordField("New password", validators=[Password()])
    confirm_password = PasswordField("Repeat the new password", validators=[Password()])


class BillingForm(TextForm):
    """The billing phone and private notes; in a ghost session they arrive masked (kit/masking.py)."""

    phone = StringField("Billing phone", validators=[Readable("Billing phone", 40)])
    notes = TextAreaField(
        "Private notes", validators=[Readable("Notes", 2000, required=False, allow_newlines=True)]
    )
