"""Completeness rows of the admin's API keys page (issue 15 part 3)."""

from __future__ import annotations

from sqlalchemy import select

from impersonator import clock
from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services.api import keys
from impersonator.services.staff.roles import Permission
from tests.web.cases.admin import admin_post

ADMIN_ONLY = {"admin"}
PAGE_ACCESS = {
    "/admin/api-keys/": ADMIN_ONLY,
    # Where a new key is shown once (after the POST's redirect); a reload says it was shown once.
    "/admin/api-keys/<int:key_id>/created": ADMIN_ONLY,
}
POST_PERMISSIONS = {
    "api_keys_admin.create": Permission.ADMIN,
    "api_keys_admin.revoke": Permission.ADMIN,
}


def a_key(app) -> int:
    """A live key, created by the first admin there is (made for the purpose if none)."""
    with app.app_context():
        admin = db.session.scalar(select(Staff).where(Staff.role == "admin").order_by(Staff.id).limit(1))
        if admin is None:
            admin = db.session.scalar(select(Staff).order_by(Staff.id).limit(1))
        return keys.create("Completeness", ["audit:read"], admin=admin, ip=None, now=clock.now()).api_key.id


PATH_EXAMPLES: dict = {"key_id": a_key}

CSRF_CASES = {
    ("console", "api_keys_admin.create"): admin_post(
        lambda bed: "/admin/api-keys/", {"name": "SIEM", "scopes": ["audit:read"]}
    ),
    ("console", "api_keys_admin.revoke"): admin_post(lambda bed: f"/admin/api-keys/{a_key(bed.app)}/revoke"),
}
