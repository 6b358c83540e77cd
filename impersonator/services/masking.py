"""Masks for sensitive values, by category (DESIGN §13), and who may reveal what.

A mask keeps only what support needs to match a ticket: a card's last four digits, an id's last
four, an email's first letter and domain, a phone's last four; private notes keep nothing. Masks are
pure functions of the value, computed on the server: the page gets the mask, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from impersonator.models import MASK_CATEGORIES, REVEAL_SCOPES, Tenant
from impersonator.services.errors import InvalidInput, NotAllowed

DOT = "•"
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def _last_digits(value: str, count: int = 4) -> str:
    return re.sub(r"\D", "", value)[-count:]


def mask_payment(value: str) -> str:
    """`4242 4242 4242 4242` → `•••• 4242`."""
    return f"{DOT * 4} {_last_digits(value)}".rstrip()


def mask_government_id(value: str) -> str:
    """`123-45-6789` → `•••-••-6789`."""
    return f"{DOT * 3}-{DOT * 2}-{_last_digits(value)}".rstrip("-")


def mask_contact(value: str) -> str:
    """An email keeps its first letter and its domain (`a•••@example.com`); a phone number its last
    four digits (`••• ••• 4567`)."""
    local, at, domain = value.partition("@")
    if at:
        return f"{local[:1]}{DOT * 3}@{domain}"
    return f"{DOT * 3} {DOT * 3} {_last_digits(value)}".rstrip()


def mask_private_notes(value: str) -> str:
    """Nothing of a note is kept."""
    return DOT * 3


MASKS: dict[str, Callable[[str], str]] = {
    "payment": mask_payment,
    "government_id": mask_government_id,
    "contact": mask_contact,
    "private_notes": mask_private_notes,
}


def mask(value: object, category: str) -> str:
    """The mask of `value` (as text) in `category`; nothing to mask for an empty value. Raises
    UnknownCategory for a category the product does not know (a host's typo must not show a value)."""
    check_category(category)
    text = "" if value is None else str(value)
    return MASKS[category](text) if text else ""


# --- reveals --------------------------------------------------------------------------------------


class UnknownCategory(InvalidInput):
    def __init__(self) -> None:
        super().__init__("unknown_category", "There is no such kind of sensitive value.")


class RevealRefused(NotAllowed):
    """The tenant's policy forbids this reveal; `reason` says which rule (audited)."""


def check_category(category: str) -> str:
    if category not in MASK_CATEGORIES:
        raise UnknownCategory()
    return category


def check_key(key: str | None) -> str:
    """The host's name of one masked value: short, lower-case, stable (it is posted back by the form)."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise InvalidInput("bad_mask_key", "That masked value cannot be named.")
    return key


def allowed_categories(tenant: Tenant) -> tuple[str, ...]:
    """The categories the tenant lets a ghost reveal (None stored: every one)."""
    if tenant.reveal_categories is None:
        return MASK_CATEGORIES
    chosen = set(tenant.reveal_categories.split())
    return tuple(category for category in MASK_CATEGORIES if category in chosen)


def categories_setting(chosen: list[str]) -> str | None:
    """The stored form of the categories an admin ticked: None when every one is allowed."""
    if set(chosen) >= set(MASK_CATEGORIES):
        return None
    return " ".join(category for category in MASK_CATEGORIES if category in chosen)


def scopes_allowed(tenant: Tenant, mode: str, category: str) -> tuple[str, ...]:
    """The reveal scopes open to a ghost in `mode` for `category`: none, ("one",) or both."""
    if category not in allowed_categories(tenant):
        return ()
    if tenant.reveals_full_mode_only and mode != "full":
        return ()
    return REVEAL_SCOPES if tenant.reveal_whole_category else ("one",)


def check_reveal(tenant: Tenant, mode: str, category: str, scope: str) -> None:
    """RevealRefused unless the tenant's policy lets a ghost in `mode` make this reveal."""
    check_category(category)
    if scope not in REVEAL_SCOPES:
        raise InvalidInput("bad_reveal_scope", "Choose to reveal this value or the whole kind.")
    if category not in allowed_categories(tenant):
        raise RevealRefused("reveal_forbidden", f"{tenant.name} does not allow revealing this kind of value.")
    if tenant.reveals_full_mode_only and mode != "full":
        raise RevealRefused(
            "reveal_full_mode_only", f"{tenant.name} allows reveals in full-access impersonations only."
        )
    if scope == "category" and not tenant.reveal_whole_category:
        raise RevealRefused(
            "reveal_category_forbidden", f"{tenant.name} allows revealing one value at a time only."
        )
