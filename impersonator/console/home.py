"""The console's front page: who you are, what you may do, where you are signed in."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import requires
from impersonator.services.staff import sessions as staff_sessions
from impersonator.services.staff.roles import ROLE_LABELS, Permission

bp = Blueprint("home", __name__)


@bp.get("/")
@requires(Permission.SEARCH)
def index():
    # The session row was resolved (once) by the login loader for this very request.
    return render_template(
        "console/home.html",
        role_label=ROLE_LABELS[current_user.role],
        sessions=staff_sessions.live_for(current_user.id, now=clock.now()),
        current_session_id=g.staff_session.id,
    )
