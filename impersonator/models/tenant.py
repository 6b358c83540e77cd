"""Tenants (customer companies), their domains and their users."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.types import UTCDateTime

# approve_each: the customer approves every request (DESIGN §11) instead of opting in or giving a code.
ACCESS_POLICIES = ("opt_in_or_code", "code_always", "approve_each", "off")
# Which requests need a second staff member's approval: full mode only (the default), or every one.
TWO_PERSON_RULES = ("full", "always")


class Tenant(db.Model):
    __tablename__ = "tenant"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    impersonation_enabled: Mapped[bool] = mapped_column(default=True)
    access_policy: Mapped[str] = mapped_column(String(20), default="opt_in_or_code")
    # Customers get an email whenever support enters their account, unless they turn it off.
    notify_on_access_default: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Some tenants keep support's justification out of their users' access history.
    hide_justification: Mapped[bool] = mapped_column(default=False, server_default=false())
    two_person: Mapped[str] = mapped_column(String(10), default="full", server_default="full")
    # Under opt_in_or_code, each user may choose to approve every request themself.
    users_choose_approval: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A ticket id required of every request, matching this pattern in full (None: optional).
    ticket_pattern: Mapped[str | None] = mapped_column(String(200))
    # Space-separated reason codes this tenant allows (None: every code).
    reason_codes: Mapped[str | None] = mapped_column(String(200))
    # Reveals of masked values in a ghost session (DESIGN §13): the categories a ghost may reveal,
    # space-separated (None: every category; "": none), whether one reveal may cover a whole category
    # for the rest of the session, and whether read-only sessions may reveal at all.
    reveal_categories: Mapped[str | None] = mapped_column(String(100))
    reveal_whole_category: Mapped[bool] = mapped_column(default=False, server_default=false())
    reveals_full_mode_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)

    domains: Mapped[list[TenantDomain]] = relationship(back_populates="tenant", order_by="TenantDomain.id")

    @property
    def primary_domain(self) -> str | None:
        return self.domains[0].domain if self.domains else None


class TenantDomain(db.Model):
    """A host name a tenant is served on; stored lower-case, without port."""

    __tablename__ = "tenant_domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)

    tenant: Mapped[Tenant] = relationship(back_populates="domains")


class User(UserMixin, db.Model):
    """A tenant's customer user. Never staff: staff live in their own table (DESIGN §2)."""

    __tablename__ = "tenant_user"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_tenant_user_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Consent (DESIGN §9): support may enter without a code until this moment; never indefinite.
    support_access_opt_in_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The access-notice email: None follows the tenant's default.
    notify_on_access: Mapped[bool | None] = mapped_column()
    # Where the tenant lets users choose: approve every support request myself (DESIGN §11).
    approve_each_request: Mapped[bool] = mapped_column(default=False, server_default=false())

    tenant: Mapped[Tenant] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def wants_access_notice(self) -> bool:
        """Email me whenever support accesses my account (the tenant's default until chosen)."""
        if self.notify_on_access is None:
            return self.tenant.notify_on_access_default
        return self.notify_on_access
