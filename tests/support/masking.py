"""Billing details to mask (DESIGN §13), and the reveal form used the way a browser does."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from impersonator import clock as app_clock
from impersonator.extensions import db
from impersonator.models import User
from impersonator.services.customer import billing
from tests.support.web import ACME, csrf_token

CARD = "4242 4242 4242 4242"
PHONE = "+1 415 555 0134"
TAX_ID = "123-45-6789"
NOTES = "Prefers invoices in March."
REVEAL_PATH = "/impersonation/reveal"
REASON = "Ticket 4711: the customer asks which card is charged."


def give_billing(app, user_id: int) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        billing.add_profile(
            user,
            card_brand="Visa",
            card_number=CARD,
            phone=PHONE,
            tax_id=TAX_ID,
            notes=NOTES,
            now=app_clock.now(),
        )
        db.session.commit()


def leaks(html: str) -> list[str]:
    """Every unmasked value found anywhere in the page (text, attributes, scripts), in any grouping."""
    digits = re.sub(r"\D", "", html)
    found = [value for value in (CARD, PHONE, TAX_ID, NOTES, "alice@acme.example") if value in html]
    for value in (CARD, PHONE, TAX_ID):
        bare = re.sub(r"\D", "", value)
        if bare in digits:
            found.append(f"{value} (digits)")
    return found


def reveal(
    client: FlaskClient,
    *,
    category: str,
    key: str,
    reason: str | None = REASON,
    page: str = "/billing",
    **fields,
) -> TestResponse:
    """Post the Reveal form of `page` (its CSRF token read from the page)."""
    token = csrf_token(client.get(page, base_url=ACME).text)
    data = {"csrf_token": token, "category": category, "key": key, "back": page, **fields}
    if reason is not None:
        data["reason"] = reason
    return client.post(REVEAL_PATH, base_url=ACME, data=data)
