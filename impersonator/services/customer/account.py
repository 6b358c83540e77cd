"""The customer's own account on the tenant app: name, email, password.

Email and password belong to the account's owner alone: a ghost may never change them, whatever
its mode (DESIGN I7). Views refuse it with `@not_for_impersonators`; this service refuses it too.
Both changes need the current password, count a wrong one toward the account's sign-in lock, and
send the customer a security notification.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from impersonator.extensions import db
from impersonator.models import User
from impersonator.services import throttle
from impersonator.services.customer import notifications, sign_in
from impersonator.services.errors import DomainError, Locked, NotAllowed
from impersonator.services.passwords import hash_password, new_password_problem, verify_password
from impersonator.services.validation import clean_text, normalise_email

NAME_MAX = 200


class AccountRefused(DomainError):
    """A change refused; `field` names the form field the message belongs to, if any."""

    def __init__(self, reason: str, message: str, *, field: str | None = None) -> None:
        super().__init__(reason, message)
        self.field = field


class WrongPassword(AccountRefused):
    def __init__(self) -> None:
        super().__init__("wrong_password", "Your current password is not correct.", field="current_password")


class EmailTaken(AccountRefused):
    def __init__(self) -> None:
        super().__init__(
            "email_taken", "Another account on this site already uses this email address.", field="email"
        )


class NotForGhost(NotAllowed):
    def __init__(self) -> None:
        super().__init__(
            "not_for_impersonators",
            "Support staff cannot change the account's email or password while impersonating.",
        )


def change_name(user: User, name: str | None) -> None:
    """Set the user's display name (1 to NAME_MAX readable characters)."""
    user.name = clean_text(name, "Name", max_length=NAME_MAX)
    db.session.commit()


def change_email(
    user: User, new_email: str | None, current_password: str, *, ghost: bool, now: datetime
) -> None:
    """Change the sign-in email (unique in the tenant); the notice goes to the old address."""
    if ghost:
        raise NotForGhost()
    email = normalise_email(new_email)
    _check_current_password(user, current_password, now=now)
    if email == user.email:
        raise AccountRefused("same_email", "This is already your email address.", field="email")
    taken = db.session.scalar(
        select(User.id).where(User.tenant_id == user.tenant_id, User.email == email, User.id != user.id)
    )
    if taken is not None:
        raise EmailTaken()
    old_email = user.email
    # Before the change, so the notice goes to the old address: its owner is the one to warn.
    notifications.notify(
        user,
        kind="account.email_changed",
        subject="Your email address was changed",
        body=(
            f"The email address of your account was changed from {old_email} to {email}. "
            "If you did not do this, contact support at once."
        ),
        now=now,
    )
    user.email = email
    try:
        db.session.commit()
    except IntegrityError:  # taken in parallel, between the check above and the commit
        db.session.rollback()
        raise EmailTaken() from None


def change_password(
    user: User,
    current_password: str,
    new_password: str,
    confirmation: str,
    *,
    ghost: bool,
    now: datetime,
) -> None:
    """Change the password: a good new one, confirmed, and the right current one."""
    if ghost:
        raise NotForGhost()
    problem = new_password_problem(new_password)
    if problem:
        raise AccountRefused("bad_new_password", problem, field="new_password")
    if new_password != confirmation:
        raise AccountRefused(
            "confirmation_mismatch",
            "The new password and its confirmation are not the same.",
            field="confirm_password",
        )
    _check_current_password(user, current_password, now=now)
    user.password_hash = hash_password(new_password)
    notifications.notify(
        user,
        kind="account.password_changed",
        subject="Your password was changed",
        body="The password of your account was changed. If you did not do this, contact support at once.",
        now=now,
    )
    db.session.commit()


def _check_current_password(user: User, password: str, *, now: datetime) -> None:
    """The user's current password, or WrongPassword; wrong ones count toward the sign-in lock."""
    key = sign_in.failure_key(user.tenant, user.email)
    locked = throttle.locked_until(key, now)
    if locked:
        raise Locked("account_locked", locked)
    if not verify_password(user.password_hash, password):
        throttle.record_failure(key, throttle.account_limit(), now)
        db.session.commit()
        raise WrongPassword()
