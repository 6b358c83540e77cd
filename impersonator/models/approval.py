"""Approval requests (DESIGN §11): an impersonation asked for, waiting for the customer's and/or a
second staff member's decision before any token exists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from impersonator.extensions import db
from impersonator.models.staff import Staff
from impersonator.models.tenant import Tenant, User
from impersonator.models.types import UTCDateTime

REASON_CODES = ("customer_request", "incident", "bug_investigation", "billing", "legal")
# pending → approved → used, or pending → denied | expired | withdrawn | cancelled; approved → expired
# when the start window passes unused, or cancelled by a switch or the requester losing standing.
APPROVAL_STATES = ("pending", "approved", "used", "denied", "expired", "withdrawn", "cancelled")
OPEN_STATES = ("pending", "approved")
DECISIONS = ("approved", "denied")
# How the customer consented: opted in, read out a code, approved this request, or did not (the
# emergency of a break-glass request). Also the impersonation's `access_via`.
CONSENT_KINDS = ("opt_in", "code", "approval", "emergency")


class ApprovalRequest(db.Model):
    """One request for an impersonation that someone else must decide. Every decision is a
    conditional UPDATE of this row, so two deciders at once make one decision."""

    __tablename__ = "approval_request"
    __table_args__ = (
        Index("ix_approval_request_staff_requested", "staff_id", "requested_at"),
        Index("ix_approval_request_user_requested", "user_id", "requested_at"),
        # Only the requests still waiting or approved: what the sweep and the approvers' queue read.
        Index(
            "ix_approval_request_open",
            "id",
            postgresql_where=text("state IN ('pending', 'approved')"),
            sqlite_where=text("state IN ('pending', 'approved')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_user.id"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    reason_code: Mapped[str] = mapped_column(String(32))
    justification: Mapped[str] = mapped_column(Text())
    ticket: Mapped[str | None] = mapped_column(String(100))
    # As asked; an approver may narrow the granted values (shorter, read-only), never widen them.
    mode: Mapped[str] = mapped_column(String(10))
    duration_minutes: Mapped[int] = mapped_column()
    granted_mode: Mapped[str] = mapped_column(String(10))
    granted_minutes: Mapped[int] = mapped_column()
    consent: Mapped[str] = mapped_column(String(20))  # one of CONSENT_KINDS
    needs_customer: Mapped[bool] = mapped_column()
    needs_staff: Mapped[bool] = mapped_column()
    break_glass: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer_by: Mapped[datetime] = mapped_column(UTCDateTime())
    request_ip: Mapped[str | None] = mapped_column(String(45))

    customer_decision: Mapped[str | None] = mapped_column(String(10))
    customer_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer_note: Mapped[str | None] = mapped_column(String(500))
    staff_decision: Mapped[str | None] = mapped_column(String(10))
    staff_decider_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    staff_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    staff_note: Mapped[str | None] = mapped_column(String(500))

    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    start_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str | None] = mapped_column(String(32))
    impersonation_id: Mapped[int | None] = mapped_column(ForeignKey("impersonation.id"), unique=True)

    # Break-glass only: the security officer's post-incident review.
    review_note: Mapped[str | None] = mapped_column(Text())
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    staff: Mapped[Staff] = relationship(foreign_keys=[staff_id])
    staff_decider: Mapped[Staff | None] = relationship(foreign_keys=[staff_decider_id])
    reviewed_by: Mapped[Staff | None] = relationship(foreign_keys=[reviewed_by_id])
    user: Mapped[User] = relationship()
    tenant: Mapped[Tenant] = relationship()

    @property
    def waiting_for(self) -> list[str]:
        """Who must still decide, in the console's order: "customer", "staff"."""
        if self.state != "pending":
            return []
        waiting = []
        if self.needs_customer and self.customer_decision is None:
            waiting.append("customer")
        if self.needs_staff and self.staff_decision is None:
            waiting.append("staff")
        return waiting

    def usable(self, at: datetime) -> bool:
        """Approved and still within its start window."""
        return self.state == "approved" and self.start_by is not None and at < self.start_by
