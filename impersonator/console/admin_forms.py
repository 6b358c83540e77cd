"""Forms of the admin pages (switches, staff, webhooks) and of the public enrolment page. Every
value is checked again by the service; these fields carry what was typed and say what is wrong."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from impersonator.forms import EmailAddress, Password, Readable, TextForm
from impersonator.models import ACCESS_POLICIES, MASK_CATEGORIES, REASON_CODES, ROLES, WEBHOOK_EVENTS
from impersonator.services import wording
from impersonator.services.admin.switches import POLICY_LABELS
from impersonator.services.staff.roles import ROLE_LABELS

ROLE_CHOICES = [SelectChoice(role, ROLE_LABELS[role]) for role in ROLES]


class GlobalSwitchForm(TextForm):
    """Turn impersonation on or off for everyone; off needs the confirmation box ticked."""

    enabled = SelectField("Impersonation", choices=[SelectChoice("on", "On"), SelectChoice("off", "Off")])
    confirm = BooleanField("I understand: every live impersonation ends now")

    def validate_confirm(self, field: BooleanField) -> None:
        if self.enabled.data == "off" and not field.data:
            raise ValidationError("Tick the box to confirm: switching off ends every live impersonation.")


class TenantSettingsForm(TextForm):
    """One tenant's switches. An unticked box is sent as nothing, so it reads as off."""

    impersonation_enabled = BooleanField("Impersonation allowed")
    access_policy = SelectField(
        "Access policy", choices=[SelectChoice(policy, POLICY_LABELS[policy]) for policy in ACCESS_POLICIES]
    )
    notify_on_access_default = BooleanField("Email customers when support enters (default)")
    hide_justification = BooleanField("Hide support's justification from customers")
    # Approvals (DESIGN §11).
    two_person = SelectField(
        "Second staff member approves",
        choices=[SelectChoice("full", "Full access only"), SelectChoice("always", "Every request")],
    )
    users_choose_approval = BooleanField("Users may choose to approve each request")
    ticket_pattern = StringField(
        "Ticket id required, matching (regular expression; empty: optional)",
        validators=[Readable("Ticket pattern", 200, required=False)],
    )
    reason_codes = SelectMultipleField(
        "Reasons allowed",
        choices=[SelectChoice(code, wording.reason_code(code).capitalize()) for code in REASON_CODES],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    # Masked values in a ghost session (DESIGN §13); none ticked: no reveal at all.
    reveal_categories = SelectMultipleField(
        "Reveals allowed",
        choices=[SelectChoice(c, wording.mask_category(c) + "s") for c in MASK_CATEGORIES],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    reveal_whole_category = BooleanField("One reveal may cover a whole kind for the rest of the session")
    reveals_full_mode_only = BooleanField("Reveals in full-access impersonations only")

    def validate_reason_codes(self, field: SelectMultipleField) -> None:
        if not field.data:
            raise ValidationError("Allow at least one reason.")


class StaffCreateForm(TextForm):
    email = StringField("Email", validators=[EmailAddress()])
    name = StringField("Name", validators=[Readable("Name", 200)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="support")


class ApproverForm(TextForm):
    """Whether an impersonator approves other members' requests (the Staff page's row menu)."""

    allowed = SelectField("Approves requests", choices=[SelectChoice("yes", "Yes"), SelectChoice("no", "No")])


class RoleForm(TextForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class EnrolOpenForm(TextForm):
    """The enrolment link's code, moved here from the link's fragment by the page's script (or
    pasted by the invitee): from here on it travels in form bodies only."""

    token = StringField("Enrolment code")


class EnrolPasswordForm(TextForm):
    """The invitee's new password, typed twice (the service checks length and that both match),
    with the link's code carried along in the form's body."""

    token = HiddenField()
    password = PasswordField("New password", validators=[Password()])
    confirmation = PasswordField("Repeat the new password", validators=[Password()])


class WebhookForm(TextForm):
    url = StringField("Endpoint URL", validators=[Readable("Endpoint URL", 2000)])
    description = StringField(
        "Description (optional)", validators=[Readable("Description", 200, required=False)]
    )
    events = SelectMultipleField(
        "Events",
        choices=[SelectChoice(event, event) for event in WEBHOOK_EVENTS],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def validate_events(self, field: SelectMultipleField) -> None:
        if not field.data:
            raise ValidationError("Choose at least one event.")
