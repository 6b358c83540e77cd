"""Customer sign-in and sign-out on a tenant domain."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, session, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.kit import not_for_impersonators
from impersonator.services.customer import sign_in
from impersonator.services.errors import DomainError
from impersonator.tenant.access import start_customer_session
from impersonator.tenant.forms import CustomerSignInForm
from impersonator.web import client_ip, public, refusal_headers
from impersonator.web_limits import rate_limited, this_address

bp = Blueprint("customer_sign_in", __name__)


@bp.get("/sign-in")
@public
def form():
    if current_user.is_authenticated:
        return redirect(url_for("tenant_home.index"))
    return render_template("tenant/sign_in.html", form=CustomerSignInForm())


@bp.post("/sign-in")
@public
@rate_limited("sign_in", this_address)
def submit():
    form = CustomerSignInForm()
    if not form.validate_on_submit():
        return render_template("tenant/sign_in.html", form=form), 400
    try:
        user = sign_in.sign_in(g.tenant, form.email.data, form.password.data, ip=client_ip(), now=clock.now())
    except DomainError as refused:
        flash(refused.message, "error")
        return render_template("tenant/sign_in.html", form=form), refused.status, refusal_headers(refused)
    start_customer_session(user)
    return redirect(url_for("tenant_home.index"), code=303)


@bp.post("/sign-out")
@public
@not_for_impersonators  # a ghost leaves with End, which ends the impersonation itself
def sign_out():
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("customer_sign_in.form"), code=303)
