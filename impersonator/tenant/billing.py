"""The customer's billing page: a card, a billing phone, a tax id and private notes, each marked
sensitive for the kit (DESIGN §13), so a ghost session shows them masked until it reveals one with a
reason. In full mode the phone and notes may be changed: a field left as its mask keeps its value."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.kit import keep_if_masked, sensitive
from impersonator.services.customer import billing
from impersonator.services.errors import DomainError
from impersonator.tenant.forms import BillingForm
from impersonator.web import error_page

bp = Blueprint("billing", __name__, url_prefix="/billing")

# The keys under which this app marks its values: the same on every page that shows them.
PHONE = ("contact", "billing_phone")
NOTES = ("private_notes", "billing_notes")


@bp.get("")
def show():
    return _page()


@bp.post("")
def save():
    profile = billing.profile_of(current_user)
    if profile is None:
        return error_page(404, billing.NoBillingDetails().message)
    form = BillingForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        billing.update(
            current_user,
            phone=keep_if_masked(form.phone.data, profile.phone, PHONE[0], key=PHONE[1]),
            notes=keep_if_masked(form.notes.data, profile.notes, NOTES[0], key=NOTES[1]),
            now=clock.now(),
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _page(form, status=refused.status)
    flash("Your billing details were saved.", "info")
    return redirect(url_for("billing.show"), code=303)


def _page(form: BillingForm | None = None, *, status: int = 200):
    profile = billing.profile_of(current_user)
    if form is None and profile is not None:
        # The form's initial values as this request may show them: masked in a ghost session.
        form = BillingForm(
            formdata=None,
            phone=sensitive(profile.phone, PHONE[0], key=PHONE[1]),
            notes=sensitive(profile.notes, NOTES[0], key=NOTES[1]),
        )
    return render_template("tenant/billing.html", profile=profile, form=form), status
