"""Redeeming a redirect token into a ghost session, and ending it (DESIGN I2, I3)."""

from __future__ import annotations

from flask import Blueprint, g, redirect, request, session, url_for

from impersonator import clock
from impersonator.extensions import csrf
from impersonator.faces import hostname_of
from impersonator.services import impersonations, redemption
from impersonator.services.errors import DomainError
from impersonator.services.links import console_url
from impersonator.tenant.ghost import GHOST_KEY, current_impersonation
from impersonator.web import client_ip, error_page, public, user_agent

bp = Blueprint("ghost", __name__, url_prefix="/impersonation")


@bp.post("/redeem")
@public
@csrf.exempt  # the token is the credential; it arrives in a cross-site form POST (DESIGN I11)
def redeem():
    try:
        impersonation_id = redemption.redeem(
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
    if previous is not None and previous.impersonation_id != impersonation_id:
        # One ghost per browser: the session this one replaces ends now, not at its time limit.
        impersonations.end(
            previous.impersonation_id,
            reason="staff_ended",
            actor=previous.actor,
            ip=client_ip(),
            now=clock.now(),
        )
    # Privilege changes: a new session that holds only the ghost.
    session.clear()
    session[GHOST_KEY] = {"impersonation_id": impersonation_id}
    return redirect(url_for("tenant_home.index"), code=303)


@bp.post("/end")
@public
def end():
    ghost = current_impersonation()
    if ghost is None:
        return redirect(url_for("tenant_home.index"), code=303)
    impersonations.end(
        ghost.impersonation_id, reason="staff_ended", actor=ghost.actor, ip=client_ip(), now=clock.now()
    )
    session.clear()
    return redirect(console_url(f"/users/{ghost.user_id}"), code=303)
