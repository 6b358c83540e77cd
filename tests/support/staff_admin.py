"""The administrator's side of staff management in web tests: a signed-in admin's browser, the staff
page's forms posted the way a browser does (CSRF token read from the page)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from impersonator.extensions import db
from impersonator.models import Staff
from tests.support.web import CONSOLE, csrf_token, sign_in

STAFF_PAGE = "/admin/staff/"


def admin_browser(app, admin_account, clock) -> FlaskClient:
    """A browser signed in on the console as `admin_account`."""
    browser = app.test_client()
    sign_in(browser, admin_account, clock)
    return browser


def admin_post(admin: FlaskClient, path: str, data: dict | None = None, **kwargs) -> TestResponse:
    """POST to `path` with the CSRF token of the staff page, as its forms do."""
    token = csrf_token(admin.get(STAFF_PAGE, base_url=CONSOLE).text)
    return admin.post(path, base_url=CONSOLE, data={"csrf_token": token, **(data or {})}, **kwargs)


def member_id(app, email: str) -> int | None:
    """The id of the staff member with this email (None when there is none)."""
    with app.app_context():
        return db.session.scalar(select(Staff.id).where(Staff.email == email))
