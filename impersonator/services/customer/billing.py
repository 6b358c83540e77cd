"""The demo tenant app's billing details: a card, a billing phone, a tax id and private notes, one
value of each sensitive category (DESIGN §13). The customer (or a full-mode ghost) changes the phone
and the notes; the card and the tax id are shown only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import BillingProfile, User
from impersonator.services.errors import DomainError
from impersonator.services.validation import clean_text

PHONE_MAX = 40
NOTES_MAX = 2000


class NoBillingDetails(DomainError):
    status = 404

    def __init__(self) -> None:
        super().__init__("no_billing_details", "There are no billing details on this account yet.")


def profile_of(user: User) -> BillingProfile | None:
    """The user's billing details, or None."""
    return db.session.scalar(select(BillingProfile).where(BillingProfile.user_id == user.id))


def update(user: User, *, phone: str | None, notes: str | None, now: datetime) -> BillingProfile:
    """Change the billing phone and the private notes (the values to store, masks already resolved
    by the view: kit.keep_if_masked)."""
    profile = profile_of(user)
    if profile is None:
        raise NoBillingDetails()
    profile.phone = clean_text(phone, "Billing phone", max_length=PHONE_MAX)
    profile.notes = clean_text(notes, "Notes", max_length=NOTES_MAX, required=False, allow_newlines=True)
    profile.updated_at = now
    db.session.commit()
    return profile


def add_profile(
    user: User, *, card_brand: str, card_number: str, phone: str, tax_id: str, notes: str, now: datetime
):
    """Give a user billing details (demo data and tests); left alone when there are some already."""
    if profile_of(user) is not None:
        return
    db.session.add(
        BillingProfile(
            user_id=user.id,
            card_brand=card_brand,
            card_number=card_number,
            phone=phone,
            tax_id=tax_id,
            notes=notes,
            updated_at=now,
        )
    )
