"""Request rates at the views (services/rate_limits.py): a limited request gets the 429 page, which
says when to try again, with Retry-After, and its view does nothing else."""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps

from flask import g, request
from flask_login import current_user

from impersonator import clock
from impersonator.services import rate_limits
from impersonator.web import client_ip, error_page, refusal_headers

Subject = rate_limits.Subject


def rate_limited(
    limit: str, subject: Callable[[], Subject | None], *, methods: Collection[str] | None = None
) -> Callable[[Callable], Callable]:
    """Count each request to the view (of `methods`, default all) against `limit` for the `subject`
    it returns (None: this request is not counted), before the view runs. Placed under the route's
    access markers (`@requires`, `@public`), so a refused person is never counted."""

    def wrap(view: Callable) -> Callable:
        @wraps(view)
        def limited(*args, **kwargs):
            who = subject() if methods is None or request.method in methods else None
            if who is not None:
                try:
                    rate_limits.check(limit, who, now=clock.now())
                except rate_limits.RateLimited as refused:
                    body, status = error_page(429, refused.message)
                    return body, status, refusal_headers(refused)
            return view(*args, **kwargs)

        limited.rate_limit = limit  # read by the completeness test of limited endpoints
        return limited

    return wrap


def signed_in_staff() -> Subject:
    """The signed-in staff member (console views that need a permission always have one)."""
    return rate_limits.staff_member(current_user, ip=client_ip())


def this_address() -> Subject:
    """The client's address; on a tenant domain, counted per tenant."""
    tenant = g.get("tenant")
    return rate_limits.client_address(client_ip(), tenant_id=tenant.id if tenant is not None else None)
