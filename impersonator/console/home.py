"""The console's front page: who you are, what you may do, where you are signed in."""

from __future__ import annotations

from flask import Blueprint, render_template, session
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import SESSION_TOKEN_KEY, requires
from impersonator.services import staff_sessions
from impersonator.services.roles import ROLE_LABELS, Permission

bp = Blueprint("home", __name__)


@bp.get("/")
@requires(Permission.SEARCH)
def index():
    current = staff_sessions.resolve(session.get(SESSION_TOKEN_KEY), now=clock.now())
    sessions = staff_sessions.live_for(current_user.id, now=clock.now())
    return render_template(
        "console/home.html",
        role_label=ROLE_LABELS[current_user.role],
        sessions=sessions,
        current_session_id=current.id if current else None,
    )
