"""The admin's API keys page (issue 15 part 3): create → redirect → the key shown once → a reload
says it was shown once; stored only as a keyed hash; revoked from the page; both audited."""

from __future__ import annotations

import re

from impersonator.extensions import db
from impersonator.models import ApiKey
from tests.support.api import call, is_json_error
from tests.support.records import audit_events
from tests.support.staff_admin import admin_browser
from tests.support.web import CONSOLE, csrf_token, flashes

PAGE = "/admin/api-keys/"
_KEY = re.compile(r'<code id="api-key" class="secret">(imp_live_[0-9]+_[A-Za-z0-9_-]{43})</code>')


def words(html: str) -> str:
    return " ".join(html.split())


def create(admin, name: str = "SIEM", scopes=("audit:read", "impersonations:read")):
    token = csrf_token(admin.get(PAGE, base_url=CONSOLE).text)
    return admin.post(
        PAGE, base_url=CONSOLE, data={"csrf_token": token, "name": name, "scopes": list(scopes)}
    )


def test_a_new_key_is_shown_once_after_the_redirect_and_a_reload_says_so(app, admin, admin_account):
    posted = create(admin)

    assert posted.status_code == 303
    shown = admin.get(posted.headers["Location"], base_url=CONSOLE)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    key = _KEY.search(shown.text).group(1)
    assert "shown only now, once" in words(shown.text)

    reloaded = admin.get(posted.headers["Location"], base_url=CONSOLE)
    assert reloaded.status_code == 200
    assert key not in reloaded.text and _KEY.search(reloaded.text) is None
    assert "was shown once, when it was created, and cannot be shown again" in words(reloaded.text)

    # It works, with exactly its scopes.
    assert call(admin, "GET", "/audit-events", key).status_code == 200
    is_json_error(call(admin, "POST", "/sessions/1/terminate", key, json={"reason": "x" * 25}), 403)
    # Stored only as a hash of its secret; the audit trail has its name and scopes, never the key.
    secret = key.split("_", 3)[3]
    with app.app_context():
        row = db.session.scalars(db.select(ApiKey)).one()
        assert (row.name, row.scope_list, row.created_by_id) == (
            "SIEM",
            ["audit:read", "impersonations:read"],
            admin_account.id,
        )
        assert secret not in row.secret_hash and len(row.secret_hash) == 64
    [created] = audit_events(app, "api_key.created")
    assert created["actor_id"] == admin_account.id
    assert created["details"] == {"name": "SIEM", "scopes": ["audit:read", "impersonations:read"]}
    assert secret not in str(audit_events(app, "api.request"))


def test_the_list_shows_scopes_and_last_use_and_revoke_stops_the_key(app, admin):
    posted = create(admin, name="Splunk forwarder")
    key = _KEY.search(admin.get(posted.headers["Location"], base_url=CONSOLE).text).group(1)
    call(admin, "GET", "/sessions", key)

    page = admin.get(PAGE, base_url=CONSOLE)
    assert "Splunk forwarder" in page.text and "impersonations:read" in page.text
    assert "never" not in page.text  # it has been used
    assert f'href="{PAGE}"' in page.text  # in the admin's navigation
    key_id = int(key.split("_")[2])
    revoked = admin.post(
        f"{PAGE}{key_id}/revoke", base_url=CONSOLE, data={"csrf_token": csrf_token(page.text)}
    )

    assert revoked.status_code == 303
    assert flashes(admin.get(PAGE, base_url=CONSOLE)) == ["The key is revoked: its next call is refused."]
    is_json_error(call(admin, "GET", "/sessions", key), 401, "api_key_revoked")
    [event] = audit_events(app, "api_key.revoked")
    assert event["details"] == {"name": "Splunk forwarder"}


def test_a_key_needs_a_name_and_a_scope(app, admin):
    response = create(admin, name="  ", scopes=())

    assert response.status_code == 400
    assert "Name is required." in response.text and "Choose at least one scope." in response.text
    with app.app_context():
        assert db.session.scalars(db.select(ApiKey)).all() == []


def test_the_shown_once_page_of_another_admin_does_not_show_the_key(app, admin, make_staff, clock):
    posted = create(admin)
    other = admin_browser(app, make_staff("admin"), clock)

    page = other.get(posted.headers["Location"], base_url=CONSOLE)

    assert _KEY.search(page.text) is None
    assert _KEY.search(admin.get(posted.headers["Location"], base_url=CONSOLE).text) is not None


def test_an_unknown_key_page_is_a_404(admin):
    assert admin.get(f"{PAGE}4242/created", base_url=CONSOLE).status_code == 404
