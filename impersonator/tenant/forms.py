"""Tenant-face forms."""

from __future__ import annotations

from wtforms import BooleanField, PasswordField, RadioField, SelectChoice, StringField

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


class OptInForm(TextForm):
    """Allow support access for a period. The consent service checks the choice (validate_choice
    is off so that a forged value gets the service's sentence, not WTForms' "Not a valid choice")."""

    period = RadioField("Allow support to access my account for", validate_choice=False)


class AccessNoticeForm(TextForm):
    notify_on_access = BooleanField("Email me whenever support accesses my account")


class CustomerDecisionForm(TextForm):
    """Approve or deny one support request, with an optional note the staff member sees."""

    decision = RadioField(
        "Decision", choices=[SelectChoice("approve", "Approve"), SelectChoice("deny", "Deny")]
    )
    note = StringField("Note to support (optional)", validators=[Readable("Note", 500, required=False)])


class ApprovalChoiceForm(TextForm):
    approve_each = BooleanField("Ask me to approve every support access")
