"""Redeeming a redirect token into a ghost session, and ending it (DESIGN I2, I3).

*End* in the banner lands on this domain's "Impersonation ended" page (200): it confirms whose
account was left and links back to that user's page on the console (services/links.py, never the
request). A click of a ghost whose session someone else ended (the customer, the security team, the
time limit…) gets the same page from the guard (kit/ghost.py), refused (403). A new ghost session,
or an End without one, lands on the host's home page (its `home_endpoint`)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from impersonator import clock
from impersonator.extensions import csrf
from impersonator.faces import hostname_of
from impersonator.kit.ghost import current_impersonation, start_ghost_session
from impersonator.kit.host import host
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import lifecycle, redemption
from impersonator.services.links import console_url
from impersonator.services.validation import row_id
from impersonator.web import client_ip, error_page, public, user_agent
from impersonator.web_limits import rate_limited, this_address

# Impersonator's templates (the kit's pages, error pages, mails), found after the host's own ones.
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
bp = Blueprint("impersonation", __name__, url_prefix="/impersonation", template_folder=str(TEMPLATES))
ENDED_KEY = "ended"
NAME_MAX = 200


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
    return redirect(url_for(host().home_endpoint), code=303)


@bp.post("/end")
@public
def end():
    ghost = current_impersonation()
    if ghost is None:
        return redirect(url_for(host().home_endpoint), code=303)
    lifecycle.end(
        ghost.impersonation_id, reason="staff_ended", actor=ghost.actor, ip=client_ip(), now=clock.now()
    )
    session.clear()
    # What the next page confirms: names the staff member saw on every page of the session, no secret.
    session[ENDED_KEY] = {"user_id": ghost.user_id, "user_name": ghost.user_name[:NAME_MAX]}
    return redirect(url_for("impersonation.ended"), code=303)


@bp.get("/ended")
@public
def ended():
    """The confirmation after *End*; a reload shows it again and changes nothing."""
    if current_impersonation() is not None:  # a ghost session is live in this browser: nothing ended
        return redirect(url_for(host().home_endpoint), code=303)
    user_id, user_name = _ended_here()
    back = console_url("users.show", user_id=user_id) if user_id else console_url("home.index")
    page = render_template(
        "tenant/impersonation/impersonation_ended.html", ended_by_you=True, user_name=user_name, back=back
    )
    return page, 200


def _ended_here() -> tuple[int | None, str | None]:
    """Whose account this browser's last ghost session was in (the cookie is input: checked)."""
    state = session.get(ENDED_KEY)
    if not isinstance(state, dict):
        return None, None
    user_id, name = row_id(state.get("user_id")), state.get("user_name")
    return user_id, name if isinstance(name, str) and name and len(name) <= NAME_MAX else None


@bp.app_context_processor
def console_link() -> dict:
    """For the ended page the guard draws too: where the console is (built only when asked for)."""
    return {"console_home": lambda: console_url("home.index")}
