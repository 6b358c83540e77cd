"""Redeeming a redirect token into a ghost session, and ending it (DESIGN I2, I3)."""

from __future__ import annotations

from flask import Blueprint, g, redirect, request, session, url_for

from impersonator import clock
from impersonator.extensions import csrf
from impersonator.faces import hostname_of
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import lifecycle, redemption
from impersonator.services.links import console_url
from impersonator.tenant.ghost import current_impersonation, start_ghost_session
from impersonator.web import client_ip, error_page, public, user_agent
from impersonator.web_limits import rate_limited, this_address

bp = Blueprint("impersonation", __name__, url_prefix="/impersonation")


# A token belongs in a form's body. One that arrives in the address (a GET, or a POST with a query
# string) is already in access logs and browser history: it is cancelled, never redeemed (I3).
ADDRESS_REFUSAL = (
    "An impersonation link must not be opened as a web address: it was cancelled for safety. "
    "Start again from the console."
)


@bp.get("/redeem")
@public
def redeem_refused():
    """GET is refused (405) as ever; a token in its address is cancelled first."""
    if "token" in request.args:
        _cancel_token_in_address()
        body, _ = error_page(405, ADDRESS_REFUSAL, title="Impersonation not started")
    else:
        body, _ = error_page(405)
    return body, 405, {"Allow": "POST"}


def _cancel_token_in_address() -> None:
    redemption.cancel_exposed(request.args.get("token"), tenant=g.tenant, ip=client_ip(), now=clock.now())


@bp.post("/redeem")
@public
@csrf.exempt  # the token is the credential; it arrives in a cross-site form POST (DESIGN I11)
@rate_limited("redeem", this_address)  # before the token is read: a limited post never burns it
def redeem():
    if "token" in request.args:
        _cancel_token_in_address()
        return error_page(400, ADDRESS_REFUSAL, title="Impersonation not started")
    try:
        redeemed = redemption.redeem(
            request.form.get("token"),
            tenant=g.tenant,
            hostname=hostname_of(request.host),
            ip=client_ip(),
            user_agent=user_agent(),
            now=clock.now(),
        )
    except DomainError as refused:
        # A live ghost session in this browser (say, the handoff submitted twice) is left as it is.
        return error_page(refused.status, refused.message, title="Impersonation not started")
    previous = current_impersonation()
    if previous is not None and previous.impersonation_id != redeemed.impersonation_id:
        # One ghost per browser: the session this one replaces ends now, not at its time limit.
        lifecycle.end(
            previous.impersonation_id,
            reason="staff_ended",
            actor=previous.actor,
            ip=client_ip(),
            now=clock.now(),
        )
    start_ghost_session(redeemed)
    return redirect(url_for("tenant_home.index"), code=303)


@bp.post("/end")
@public
def end():
    ghost = current_impersonation()
    if ghost is None:
        return redirect(url_for("tenant_home.index"), code=303)
    lifecycle.end(
        ghost.impersonation_id, reason="staff_ended", actor=ghost.actor, ip=client_ip(), now=clock.now()
    )
    session.clear()
    return redirect(console_url("users.show", user_id=ghost.user_id), code=303)
