"""Request ids (impersonator/faces.py): one per request, in the X-Request-Id header, in every log
line and every audit event of that request; a trusted proxy's own id is kept, anyone else's is not."""

from __future__ import annotations

import re

import pytest

from tests.support.impersonation import request_impersonation
from tests.support.records import audit_events
from tests.support.web import CONSOLE, post_form

HEX_ID = re.compile(r"[0-9a-f]{16}")
PROXY_ID = "lb-7f3a9c.2026-12-03:0042"


def test_the_audit_events_of_a_request_carry_its_id(app, client, agent, alice, clock):
    # The helper follows the POST's redirect to the handoff page: the POST is the first answer.
    posted = request_impersonation(client, agent, clock, alice).history[0]

    [event] = audit_events(app, "impersonation.requested")
    assert event["request_id"] == posted.headers["X-Request-Id"]


def test_events_outside_a_request_carry_none(app, runner, make_staff):
    make_staff("support")
    result = runner.invoke(
        args=["staff", "create", "--email", "new@staff.example", "--name", "N", "--role", "support"]
    )

    assert result.exit_code == 0, result.output
    assert audit_events(app, "staff.created")[-1]["request_id"] is None


def test_a_clients_own_request_id_is_not_taken_without_a_trusted_proxy(app, client, tenants):
    response = client.get("/sign-in", base_url=CONSOLE, headers={"X-Request-Id": PROXY_ID})

    assert response.headers["X-Request-Id"] != PROXY_ID
    assert HEX_ID.fullmatch(response.headers["X-Request-Id"])


@pytest.mark.parametrize(
    ("offered", "kept"),
    [(PROXY_ID, True), ("", False), ("x" * 65, False), ("id with spaces", False), ("<b>x</b>", False)],
    ids=["plain", "empty", "too-long", "spaces", "markup"],
)
def test_a_trusted_proxys_request_id_is_kept_when_it_is_a_plain_token(make_app, tenants, offered, kept):
    app = make_app(TRUSTED_PROXY_COUNT=1)
    credentials = {"email": "nobody@staff.example", "password": "a guess"}

    response = post_form(
        app.test_client(), CONSOLE, "/sign-in", "/sign-in", credentials, headers={"X-Request-Id": offered}
    )

    rid = response.headers["X-Request-Id"]
    assert (rid == offered) is kept
    assert kept or HEX_ID.fullmatch(rid)
    assert audit_events(app, "staff.sign_in_failed")[-1]["request_id"] == rid
