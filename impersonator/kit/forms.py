"""The Support access pages' forms (the customer's consent and decisions)."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, RadioField, SelectChoice, StringField

from impersonator.forms import Readable, TextForm


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


class RevealForm(TextForm):
    """A ghost reveals one masked value (kit/masking.py): which one, why, and how far. The service
    checks every value (services/impersonation/reveals.py); the form only insists on typed text."""

    category = HiddenField()
    key = HiddenField()
    back = HiddenField()
    scope = StringField("Reveal the whole kind")
    reason = StringField("Reason")
