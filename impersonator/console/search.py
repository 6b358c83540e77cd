"""User search across all tenants: GET /search?q=…&page=N."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from impersonator import clock
from impersonator.console.access import requires
from impersonator.services.errors import InvalidInput
from impersonator.services.search.users import MAX_QUERY_CHARS, MIN_SUBSTRING_CHARS, search_users
from impersonator.services.staff.roles import Permission
from impersonator.web_limits import Subject, rate_limited, signed_in_staff

bp = Blueprint("search", __name__)


def searcher() -> Subject | None:
    """Each search counts against its staff member (enumeration); the empty search page shows nobody."""
    return signed_in_staff() if request.args.get("q") else None


@bp.get("/search")
@requires(Permission.SEARCH)
@rate_limited("search", searcher)
def index():
    limits = {"max_chars": MAX_QUERY_CHARS, "min_substring": MIN_SUBSTRING_CHARS}
    try:
        found = search_users(
            request.args.get("q"), page=request.args.get("page", 1, type=int), now=clock.now()
        )
    except InvalidInput as refused:
        # The refused query is not echoed back into the box: it may hold what we just refused.
        return render_template("console/search/search.html", found=None, error=refused.message, **limits), 400
    return render_template("console/search/search.html", found=found, error=None, **limits)
