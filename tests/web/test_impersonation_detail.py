"""One impersonation in full, GET /audit/impersonations/<id> (issue 5 §3; DESIGN §7, I7, I11): who,
whom, why, when, from where (a mismatch flagged), how it ended, the ghost's request log, the
notifications held back and the related audit events."""

from __future__ import annotations

import re

import pytest

from impersonator.extensions import db
from impersonator.models import User
from impersonator.services.customer import notifications
from tests.support.impersonation import (
    ACME,
    END_PATH,
    REDEEM_PATH,
    end_ghost,
    launch,
    launch_and_redeem,
    minutes,
    opt_in,
    the_impersonation,
)
from tests.support.web import CONSOLE, post_form, sign_in

HOSTILE = "<script>alert('justification')</script> needs a long enough reason"


@pytest.fixture
def agent_browser(app):
    """The support agent's own browser (the officer uses `client`)."""
    return app.test_client()


@pytest.fixture
def officer(client, make_staff, clock):
    member = make_staff("security")
    sign_in(client, member, clock)
    return member


def detail_page(client, impersonation_id: int):
    return client.get(f"/audit/impersonations/{impersonation_id}", base_url=CONSOLE)


def section(html: str, heading: str) -> str:
    """The card under a heading, up to the next card."""
    start = html.index(f">{heading}</h2>")
    return html[start : html.find("</section>", start)]


def test_the_detail_page_tells_the_whole_story(app, client, agent_browser, make_staff, alice, clock, officer):
    agent = make_staff("support", email="sam@staff.example")
    sign_in(agent_browser, agent, clock)
    launched = launch_and_redeem(agent_browser, agent, clock, alice, ticket="SUP-4711")
    assert launched.redeemed.status_code == 303
    agent_browser.get("/", base_url=ACME)
    agent_browser.get("/account", base_url=ACME)
    with app.app_context():
        user = db.session.get(User, alice)
        notifications.notify(
            user, kind="project.shared", subject="A project was shared", body="…", now=clock.now()
        )
        db.session.commit()
    clock.advance(minutes=5)
    assert end_ghost(agent_browser).status_code == 303
    with app.app_context():
        user = db.session.get(User, alice)
        notifications.notify(user, kind="project.shared", subject="After the end", body="…", now=clock.now())
        db.session.commit()
    imp = the_impersonation(app)

    response = detail_page(client, imp.id)

    assert response.status_code == 200
    page = response.text
    assert f"<h1>Impersonation #{imp.id}</h1>" in page
    for fact in ("Support Person", "sam@staff.example", "Alice", "alice@acme.example", "Acme", "SUP-4711"):
        assert fact in page
    assert imp.reason in page
    assert '<span title="read_only">read-only</span>, up to 60 minutes' in page
    assert '<span title="opt_in">customer opted in</span>' in page
    timeline = section(page, "Timeline and origin")
    assert imp.issued_at.strftime("%Y-%m-%d %H:%M:%S") in timeline
    assert imp.redeemed_at.strftime("%Y-%m-%d %H:%M:%S") in timeline
    assert imp.ended_at.strftime("%Y-%m-%d %H:%M:%S") in timeline
    assert "127.0.0.1" in timeline and "Werkzeug/" in timeline
    assert "mismatch-warning" not in page  # same address and browser at issue and at redemption
    assert '<span class="end-reason" title="staff_ended">Ended by the support agent.</span>' in page
    requests = section(page, "Request log of the ghost session")
    assert re.findall(r"<td>(GET|POST)</td><td><code>([^<]+)</code></td><td>(\d+)</td>", requests) == [
        ("GET", "/", "200"),
        ("GET", "/account", "200"),
        ("GET", "/", "200"),
        ("POST", END_PATH, "303"),
    ]
    held_back = section(page, "Notifications held back")
    assert "A project was shared" in held_back and "After the end" not in held_back
    events = section(page, "Audit events")
    assert re.findall(r'<span class="audit-action" title="(impersonation\.\w+)">([^<]+)</span>', events) == [
        ("impersonation.requested", "Impersonation requested"),
        ("impersonation.started", "Impersonation started"),
        ("impersonation.ended", "Impersonation ended"),
    ]


def test_a_redemption_from_another_address_and_browser_is_flagged(
    app, client, agent_browser, make_staff, alice, clock, officer
):
    agent = make_staff("support")
    sign_in(agent_browser, agent, clock)
    _, token = launch(agent_browser, agent, clock, alice)
    elsewhere = app.test_client()
    redeemed = elsewhere.post(
        REDEEM_PATH,
        base_url=ACME,
        data={"token": token},
        headers={"User-Agent": "CurlyBrowser/1.0"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert redeemed.status_code == 303

    page = detail_page(client, the_impersonation(app).id).text

    assert 'class="mismatch">203.0.113.9</td>' in page
    assert 'class="user-agent mismatch">CurlyBrowser/1.0</td>' in page
    assert (
        "Redeemed from a different\n        IP address and browser\n        than the one it was issued to."
        in page
    )


def test_an_unredeemed_impersonation_shows_it_was_never_redeemed(
    app, client, agent_browser, make_staff, alice, clock, officer
):
    agent = make_staff("support")
    sign_in(agent_browser, agent, clock)
    launch(agent_browser, agent, clock, alice)
    clock.advance(minutes=5)

    page = detail_page(client, the_impersonation(app).id).text

    assert "never (the link expired at <time" in page
    assert "link expired unused" in page
    assert "No requests were made in a ghost session." in page
    assert "mismatch-warning" not in page


def test_hostile_justification_and_note_are_escaped(
    app, client, agent_browser, make_staff, alice, clock, officer
):
    agent = make_staff("support")
    sign_in(agent_browser, agent, clock)
    assert (
        launch_and_redeem(agent_browser, agent, clock, alice, justification=HOSTILE).redeemed.status_code
        == 303
    )
    imp = the_impersonation(app)
    response = post_form(
        client,
        CONSOLE,
        "/audit/live",
        f"/audit/live/{imp.id}/terminate",
        {"reason": "<img src=x onerror=alert('note')>"},
    )
    assert response.status_code == 303

    page = detail_page(client, imp.id).text

    assert "<script>alert(" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;justification&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(&#39;note&#39;)&gt;" in page
    assert "Terminated by the security team." in page


def test_an_unknown_impersonation_is_a_404_page(client, officer):
    response = detail_page(client, 999999)

    assert response.status_code == 404
    assert "There is nothing at this address." in response.text


@pytest.mark.parametrize("role", ["support", "impersonator"])
def test_roles_only_the_security_team_opens_the_detail(
    app, client, agent_browser, make_staff, alice, clock, role
):
    agent = make_staff("support")
    sign_in(agent_browser, agent, clock)
    launch(agent_browser, agent, clock, alice)
    sign_in(client, make_staff(role), clock)

    response = detail_page(client, the_impersonation(app).id)

    assert response.status_code == 403
    assert the_impersonation(app).reason not in response.text


def test_even_the_impersonating_agent_cannot_read_the_security_detail(
    app, agent_browser, make_staff, alice, clock
):
    agent = make_staff("impersonator")
    sign_in(agent_browser, agent, clock)
    opt_in(app, alice, clock.now() + minutes(60))
    launch(agent_browser, agent, clock, alice)

    assert detail_page(agent_browser, the_impersonation(app).id).status_code == 403
