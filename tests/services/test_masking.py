"""The masks per category and the tenant's reveal rules (services/masking.py, DESIGN §13): pure
functions, no database."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from impersonator.models import MASK_CATEGORIES
from impersonator.services import masking, wording
from impersonator.services.errors import InvalidInput


@pytest.mark.parametrize(
    ("category", "value", "masked"),
    [
        ("payment", "4242 4242 4242 4242", "•••• 4242"),
        ("payment", "3782-822463-10005", "•••• 0005"),
        ("government_id", "123-45-6789", "•••-••-6789"),
        ("contact", "alice@acme.example", "a•••@acme.example"),
        ("contact", "+1 (415) 555-0134", "••• ••• 0134"),
        ("private_notes", "Prefers invoices in March.", "•••"),
        ("payment", "", ""),
        ("private_notes", None, ""),
    ],
)
def test_each_category_keeps_only_what_a_ticket_needs(category, value, masked):
    assert masking.mask(value, category) == masked


def test_every_category_has_a_mask_and_words():
    assert set(masking.MASKS) == set(MASK_CATEGORIES) == set(wording.MASK_CATEGORIES)


def test_an_unknown_category_is_refused_rather_than_shown():
    with pytest.raises(masking.UnknownCategory):
        masking.mask("4242 4242 4242 4242", "card")


@pytest.mark.parametrize("key", ["card", "billing_phone", "a.b-c", "x" * 64])
def test_a_key_is_a_short_lower_case_name(key):
    assert masking.check_key(key) == key


@pytest.mark.parametrize("key", [None, "", "Card", "<card>", "x" * 65, "card number", "-card"])
def test_any_other_key_is_refused(key):
    with pytest.raises(InvalidInput):
        masking.check_key(key)


def tenant(**values) -> SimpleNamespace:
    settings = {"name": "Acme", "reveal_categories": None, "reveal_whole_category": False}
    return SimpleNamespace(**{**settings, "reveals_full_mode_only": False, **values})


def test_by_default_one_value_of_any_category_in_any_mode():
    for category in MASK_CATEGORIES:
        assert masking.scopes_allowed(tenant(), "read_only", category) == ("one",)
        masking.check_reveal(tenant(), "read_only", category, "one")
    with pytest.raises(masking.RevealRefused):
        masking.check_reveal(tenant(), "full", "payment", "category")


def test_a_tenant_forbids_categories_allows_whole_categories_and_may_want_full_mode():
    strict = tenant(reveal_categories="contact", reveal_whole_category=True, reveals_full_mode_only=True)

    assert masking.scopes_allowed(strict, "full", "contact") == ("one", "category")
    assert masking.scopes_allowed(strict, "full", "payment") == ()
    assert masking.scopes_allowed(strict, "read_only", "contact") == ()
    with pytest.raises(masking.RevealRefused) as refused:
        masking.check_reveal(strict, "full", "payment", "one")
    assert refused.value.reason == "reveal_forbidden"
    with pytest.raises(masking.RevealRefused) as refused:
        masking.check_reveal(strict, "read_only", "contact", "one")
    assert refused.value.reason == "reveal_full_mode_only"
    masking.check_reveal(strict, "full", "contact", "category")


def test_none_ticked_is_no_reveal_and_all_ticked_is_stored_as_every_one():
    assert masking.categories_setting(list(MASK_CATEGORIES)) is None
    assert masking.categories_setting([]) == ""
    assert masking.allowed_categories(tenant(reveal_categories="")) == ()
    assert masking.categories_setting(["contact", "payment"]) == "payment contact"
