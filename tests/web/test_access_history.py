"""The access history on the tenant face (DESIGN §9, I4, I7; issue 4): every session support had in
my account with who, when, why, mode, how long, how it ended and the action trail; *Revoke now*
ends a live one so the ghost's very next request is refused, and the staff member sees it."""

from __future__ import annotations

import re

import pytest

from tests.support.customer import HISTORY, SETTINGS, ghost_in, revoke_session, sign_in_as
from tests.support.impersonation import (
    END_PATH,
    ENDED_TITLE,
    JUSTIFICATION,
    end_ghost,
    impersonations,
    minutes,
    opt_in,
    the_impersonation,
    update_tenant,
    user_id,
)
from tests.support.records import audit_events
from tests.support.web import ACME, CONSOLE, GLOBEX, csrf_token


@pytest.fixture
def alice_id(app, tenants, clock) -> int:
    """Alice, opted in for the day, so support may enter without a code."""
    uid = user_id(app, "alice@acme.example")
    opt_in(app, uid, clock.now() + minutes(24 * 60))
    return uid


@pytest.fixture
def customer(app, alice_id):
    client = app.test_client()
    sign_in_as(client, "alice@acme.example")
    return client


@pytest.fixture
def member(make_staff):
    """A staff member who may use full mode."""
    return make_staff("impersonator")


def ghost_does_a_little_of_everything(ghost) -> None:
    """Two pages viewed, one change made, three attempts refused, one notification held back."""
    home = ghost.get("/", base_url=ACME)
    token = csrf_token(home.text)
    assert (
        ghost.post("/projects", base_url=ACME, data={"csrf_token": token, "name": "Ghost plan"}).status_code
        == 303
    )
    assert ghost.get("/account", base_url=ACME).status_code == 200
    email = {"csrf_token": token, "email-email": "ghost@evil.example", "email-current_password": "x"}
    assert ghost.post("/account/email", base_url=ACME, data=email).status_code == 403
    opt_in_post = {"csrf_token": token, "period": "30d"}
    assert ghost.post(f"{SETTINGS}/opt-in", base_url=ACME, data=opt_in_post).status_code == 403
    assert ghost.get(SETTINGS, base_url=ACME).status_code == 403


def session_card(page: str, impersonation_id: int) -> str:
    """The history's section about one session."""
    opening = (
        rf'<section class="card support-session[^"]*"\s+aria-labelledby="session-{impersonation_id}-title">'
    )
    match = re.search(rf"{opening}(.*?)</section>", page, re.S)
    assert match, f"no section for session {impersonation_id}"
    return match.group(1)


def text_of(html: str) -> str:
    """The visible words, tags dropped and spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_history_shows_who_when_why_mode_how_long_and_what_was_done(
    app, customer, member, clock, alice_id
):
    ghost = ghost_in(app, member, clock, alice_id, mode="full", ticket="SUP-42")
    started = clock.now()
    ghost_does_a_little_of_everything(ghost)
    clock.advance(minutes=3)
    imp = the_impersonation(app)

    page = customer.get(HISTORY, base_url=ACME)

    assert page.status_code == 200
    card = session_card(page.text, imp.id)
    words = text_of(card)
    assert f"{started:%Y-%m-%d %H:%M UTC} · Impersonator Person" in words
    assert member.email not in page.text  # the staff member's display name only
    assert f"Reason You asked for help Why {JUSTIFICATION} (ticket SUP-42)" in words
    assert "Mode full access (may make changes)" in words
    assert (
        f"How long 3 minutes so far, until {imp.expires_at:%H:%M UTC} at the latest (allowed: 60 minutes)"
        in words
    )
    assert "in your account now" in words and "How it ended not ended yet" in words
    assert (
        "What was done 2 pages viewed , 1 change made , 3 refused attempts , 1 notification held back"
        in words
    )
    # The action trail, request by request.
    assert "Every request (6)" in words
    for step in (
        "GET / viewed (200)",
        "POST /projects change made (303)",
        "GET /account viewed (200)",
        "POST /account/email refused (403)",
        "POST /settings/support-access/opt-in refused (403)",
        "GET /settings/support-access refused (403)",
    ):
        assert step in words, step
    assert f'action="{HISTORY}/{imp.id}/revoke"' in card and "Revoke now" in card


def test_revoke_now_ends_the_session_on_the_ghosts_very_next_request(app, customer, member, clock, alice_id):
    ghost = ghost_in(app, member, clock, alice_id)
    assert ghost.get("/", base_url=ACME).status_code == 200
    imp = the_impersonation(app)

    response = revoke_session(customer, imp.id)

    assert response.status_code == 303 and response.headers["Location"].endswith(HISTORY)
    page = customer.get(HISTORY, base_url=ACME)
    assert "their next click is refused" in page.text
    card = text_of(session_card(page.text, imp.id))
    assert "ended by you" in card and "Revoke now" not in card
    ended = ghost.get("/", base_url=ACME)
    assert ended.status_code == 403
    assert ENDED_TITLE in ended.text and "Ended by the customer." in ended.text
    [event] = audit_events(app, "impersonation.ended")
    assert (event["actor_type"], event["actor_id"]) == ("customer", alice_id)
    assert event["details"] == {"impersonation_id": imp.id, "reason": "user_revoked"}
    assert the_impersonation(app).end_reason == "user_revoked"
    # The staff member sees it on the console.
    mine = ghost.get("/impersonations/mine", base_url=CONSOLE)
    assert "ended (ended by the customer)" in text_of(mine.text)
    assert f'action="/impersonations/{imp.id}/end"' not in mine.text


def test_revoking_a_session_that_already_ended_says_so_and_changes_nothing(
    app, customer, member, clock, alice_id
):
    ghost = ghost_in(app, member, clock, alice_id)
    imp = the_impersonation(app)
    token = csrf_token(customer.get(HISTORY, base_url=ACME).text)
    assert end_ghost(ghost).status_code == 303

    response = customer.post(f"{HISTORY}/{imp.id}/revoke", base_url=ACME, data={"csrf_token": token})

    assert response.status_code == 303
    assert "This support session had already ended." in customer.get(HISTORY, base_url=ACME).text
    assert [e["details"]["reason"] for e in audit_events(app, "impersonation.ended")] == ["staff_ended"]
    assert "ended by the support agent" in text_of(
        session_card(customer.get(HISTORY, base_url=ACME).text, imp.id)
    )


def test_another_accounts_session_cannot_be_revoked(app, tenants, customer, member, clock, alice_id):
    gina = user_id(app, "gina@globex.example")
    opt_in(app, gina, clock.now() + minutes(60))
    ghost = ghost_in(app, member, clock, gina, host=GLOBEX)
    [imp] = impersonations(app)
    token = csrf_token(customer.get(HISTORY, base_url=ACME).text)

    response = customer.post(f"{HISTORY}/{imp.id}/revoke", base_url=ACME, data={"csrf_token": token})

    assert response.status_code == 404
    assert "There is no such support session in your history." in response.text
    assert the_impersonation(app).ended_at is None
    assert ghost.get("/", base_url=GLOBEX).status_code == 200
    assert "Support has never accessed your account." in customer.get(HISTORY, base_url=ACME).text


@pytest.mark.parametrize(
    "path",
    ["/abc/revoke", "/-1/revoke", "/0/revoke", "/2147483648/revoke", "/99999999999999999999999/revoke"],
)
def test_a_bad_session_address_is_a_404(customer, path):
    token = csrf_token(customer.get(HISTORY, base_url=ACME).text)

    response = customer.post(f"{HISTORY}{path}", base_url=ACME, data={"csrf_token": token})

    assert response.status_code == 404


def test_a_get_on_revoke_is_refused(customer):
    assert customer.get(f"{HISTORY}/1/revoke", base_url=ACME).status_code == 405


def test_sessions_are_listed_newest_first(app, customer, member, clock, alice_id):
    first = ghost_in(app, member, clock, alice_id)
    end_ghost(first)
    clock.advance(minutes=5)
    ghost_in(
        app, member, clock, alice_id, justification="A second look at the invoice export for the customer"
    )
    older, newer = impersonations(app)

    page = customer.get(HISTORY, base_url=ACME).text

    assert page.index(f'id="session-{newer.id}-title"') < page.index(f'id="session-{older.id}-title"')
    assert "ended by the support agent" in text_of(session_card(page, older.id))
    assert "in your account now" in text_of(session_card(page, newer.id))


def test_the_justification_is_hidden_when_the_tenant_says_so(app, tenants, customer, member, clock, alice_id):
    update_tenant(app, tenants["acme"], hide_justification=True)
    ghost_in(app, member, clock, alice_id, ticket="SUP-42")

    page = customer.get(HISTORY, base_url=ACME)

    assert JUSTIFICATION not in page.text and "SUP-42" not in page.text
    assert "not shown: Acme keeps support's reasons private" in page.text
    assert "Reason You asked for help" in text_of(page.text)  # a category, not support's words


def test_the_justification_is_escaped(app, customer, member, clock, alice_id):
    ghost_in(
        app, member, clock, alice_id, justification='<script>alert("x")</script> checking the export page'
    )

    page = customer.get(HISTORY, base_url=ACME)

    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; checking the export page" in page.text


def test_a_session_that_reached_its_limit_says_so(app, customer, member, clock, alice_id):
    ghost_in(app, member, clock, alice_id, duration="15")
    imp = the_impersonation(app)

    clock.advance(minutes=20)

    card = text_of(session_card(customer.get(HISTORY, base_url=ACME).text, imp.id))
    assert "time limit reached" in card and "How long 15 minutes (allowed: 15 minutes)" in card
    assert "Revoke now" not in card


def test_the_ghosts_end_is_not_counted_as_a_change(app, customer, member, clock, alice_id):
    ghost = ghost_in(app, member, clock, alice_id)
    end_ghost(ghost)  # GET / for the token, then End
    imp = the_impersonation(app)

    card = text_of(session_card(customer.get(HISTORY, base_url=ACME).text, imp.id))

    assert "1 page viewed , 0 changes made , 0 refused attempts" in card
    assert f"POST {END_PATH} session ended (303)" in card


def test_a_customer_without_history_is_told_so(customer):
    page = customer.get(HISTORY, base_url=ACME)

    assert page.status_code == 200
    assert "Support has never accessed your account." in page.text
