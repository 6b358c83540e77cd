"""Support access codes (DESIGN §9, I5, I12): 8 Crockford base32 characters shown as XXXX-XXXX,
forgiving entry, single use, expiring, revocable, replaced by a new one, stored as a keyed hash,
and never good for another user."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import AccessCode, User
from impersonator.services.consent import access_codes
from impersonator.services.consent.access_codes import ALPHABET, AccessCodeRejected

SHOWN = re.compile(rf"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}")


# --- normalise: forgiving of case, spaces and dashes; strict about everything else ----------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("ABCD-EF12", "ABCDEF12"),
        ("abcd-ef12", "ABCDEF12"),
        ("  abcdef12 ", "ABCDEF12"),
        ("ab cd ef 12", "ABCDEF12"),
        ("AB-CD--EF-12", "ABCDEF12"),
        ("OOOO-IIII", "00001111"),
        ("oil0-l1i0", "01101110"),
        ("VWXY-Z789", "VWXYZ789"),
    ],
)
def test_normalise_forgives_case_spaces_dashes_and_crockford_lookalikes(typed, code):
    assert access_codes.normalise(typed) == code


@pytest.mark.parametrize(
    "typed",
    [
        None,
        "",
        "ABCD-EF1",  # 7 characters
        "ABCD-EF123",  # 9 characters
        "ABCD-EFU2",  # U is not in Crockford's alphabet
        "ABCD_EF12",  # only spaces and dashes are forgiven
        "ABCD.EF12",
        "ÀBCD-EF12",
        "ＡＢＣＤ-ＥＦ１２",  # noqa: RUF001  (full-width look-alikes on purpose)
        "ABCD\x00EF12",
        "ABCD" + "-" * 30 + "EF12",
    ],
    ids=[
        "none",
        "empty",
        "seven",
        "nine",
        "letter U",
        "underscore",
        "dot",
        "accent",
        "full-width",
        "NUL",
        "over 32 characters",
    ],
)
def test_normalise_refuses_the_wrong_alphabet_or_length(typed):
    with pytest.raises(AccessCodeRejected) as refused:
        access_codes.normalise(typed)

    assert refused.value.reason == "access_code_malformed"


# --- the codes of real users --------------------------------------------------------------------


@pytest.fixture
def people(app, tenants):
    """(alice, gina): each test opens its own app context to use them."""

    def load(email: str) -> User:
        return db.session.scalar(select(User).where(User.email == email))

    return lambda: (load("alice@acme.example"), load("gina@globex.example"))


def generate(app, user: User, clock) -> str:
    code = access_codes.generate(user, now=clock.now())
    db.session.commit()
    return code


def consume(user: User, code: str, clock) -> str:
    """Use `code` in a transaction of its own: "accepted", or the reason it was refused."""
    try:
        access_codes.consume(user, code, now=clock.now())
    except AccessCodeRejected as rejected:
        db.session.rollback()
        return rejected.reason
    db.session.commit()
    return "accepted"


def test_a_code_is_shown_as_two_groups_of_four_and_stored_only_as_a_keyed_hash(app, people, clock):
    with app.app_context():
        alice, _ = people()
        code = generate(app, alice, clock)
        [row] = db.session.scalars(select(AccessCode))

    assert SHOWN.fullmatch(code)
    assert code.replace("-", "") not in row.code_hash
    assert len(row.code_hash) == 64
    assert row.expires_at == clock.now() + timedelta(minutes=app.config["ACCESS_CODE_TTL_MINUTES"])


def test_a_code_is_accepted_however_it_is_typed(app, people, clock):
    with app.app_context():
        alice, _ = people()
        code = generate(app, alice, clock)

        typed = " " + code.lower().replace("-", " ").replace("0", "o").replace("1", "l") + " "
        assert consume(alice, typed, clock) == "accepted"


def test_a_code_works_once(app, people, clock):
    with app.app_context():
        alice, _ = people()
        code = generate(app, alice, clock)

        assert consume(alice, code, clock) == "accepted"
        assert consume(alice, code, clock) == "access_code_wrong"


def test_a_code_expires_after_access_code_ttl_minutes(app, people, clock):
    ttl = app.config["ACCESS_CODE_TTL_MINUTES"]
    with app.app_context():
        alice, _ = people()
        first = generate(app, alice, clock)
        clock.advance(minutes=ttl - 1)
        assert consume(alice, first, clock) == "accepted"

        second = generate(app, alice, clock)
        clock.advance(minutes=ttl)
        assert consume(alice, second, clock) == "access_code_expired"  # said so, still a failure


def test_a_revoked_code_is_refused(app, people, clock):
    with app.app_context():
        alice, _ = people()
        code = generate(app, alice, clock)
        assert access_codes.revoke_all(alice.id, now=clock.now()) == 1
        db.session.commit()

        assert consume(alice, code, clock) == "access_code_wrong"


def test_a_new_code_replaces_the_old_one(app, people, clock):
    with app.app_context():
        alice, _ = people()
        old = generate(app, alice, clock)
        new = generate(app, alice, clock)

        assert consume(alice, old, clock) == "access_code_wrong"
        assert consume(alice, new, clock) == "accepted"


def test_a_code_never_opens_another_user(app, people, clock):
    with app.app_context():
        alice, gina = people()
        alices = generate(app, alice, clock)
        generate(app, gina, clock)

        assert consume(gina, alices, clock) == "access_code_wrong"
        assert consume(alice, alices, clock) == "accepted"  # and trying it on gina burned nothing


def test_a_code_hash_is_bound_to_its_user(app, people, clock):
    """The same code typed for two users hashes differently: a row can never match another user."""
    with app.app_context():
        alice, gina = people()
        code = generate(app, alice, clock)
        row = db.session.scalar(select(AccessCode).where(AccessCode.user_id == alice.id))
        db.session.add(
            AccessCode(
                user_id=gina.id, code_hash=row.code_hash, created_at=clock.now(), expires_at=row.expires_at
            )
        )
        db.session.commit()

        assert consume(gina, code, clock) == "access_code_wrong"


def test_a_malformed_code_is_refused_before_any_lookup(app, people, clock):
    with app.app_context():
        alice, _ = people()
        generate(app, alice, clock)

        assert consume(alice, "ABCD-EFU2", clock) == "access_code_malformed"
