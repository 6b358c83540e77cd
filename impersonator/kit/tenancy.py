"""Which tenant a request is for: the host must be a registered tenant domain (404 otherwise), and
every page, error pages included, knows its tenant."""

from __future__ import annotations

from flask import abort, g, request, session

from impersonator.faces import hostname_of
from impersonator.kit.ghost import GHOST_KEY, read_ghost_session
from impersonator.services import tenants


def resolve_tenant():
    """Before every tenant request: the host must be a registered tenant domain.

    Static files (the stylesheet, the banner's countdown) are the same for every host and hold
    nothing of anyone's: they are served without the tenant lookup, so they need no database and
    the 503 page keeps its styles while the database is down."""
    g.tenant = None
    if request.endpoint == "static":
        return None
    hostname = hostname_of(request.host)
    # In a ghost session, the tenant comes in the same query as the impersonation that the ghost
    # guard checks next: one round trip less on every ghost request.
    tenant = read_ghost_session(hostname) if session.get(GHOST_KEY) else tenants.tenant_for_host(hostname)
    if tenant is None:
        abort(404)
    g.tenant = tenant
    g.tenant_name = tenant.name  # plain text for error pages, which never query (web.error_page)
    return None
