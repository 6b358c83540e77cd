"""What the simulation needs, written straight into the migrated database: tenants with their
domains, customers with one known password, staff members enrolled with TOTP secrets the script
keeps, and the receiver's webhook endpoint (through the real webhook-endpoint service, so its
secret is made and stored the product's way).

Passwords are hashed once with the configured method (scrypt) and the hash shared: each hash costs
~0.15 s here, and the server checks sign-ins against it the same way whatever the salt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask

STAFF_PASSWORD = "load test staff password"  # noqa: S105  (a throwaway database's test account)
CUSTOMER_PASSWORD = "load test customer password"  # noqa: S105
# slug, name, domain, access policy: two tenants where opted-in users need no code, one where
# every request needs the customer's support access code.
TENANTS = (
    ("acme", "Acme", "acme.localhost", "opt_in_or_code"),
    ("globex", "Globex", "globex.localhost", "opt_in_or_code"),
    ("initech", "Initech", "initech.localhost", "code_always"),
)


@dataclass(frozen=True)
class Customer:
    id: int
    email: str
    host: str
    policy: str  # the tenant's access policy
    opted_in: bool  # at seeding; customers toggle it during the run


@dataclass(frozen=True)
class StaffMember:
    id: int
    email: str
    role: str
    secret: str


@dataclass(frozen=True)
class Seeded:
    customers: list[Customer]
    staff: list[StaffMember]
    attackers: list[StaffMember]
    webhook_secret: str
    first_audit_seq_watched: int  # webhook messages exist for events after this seq


def seed(app: Flask, *, customers_per_tenant: int, staff: int, attackers: int, webhook_url: str) -> Seeded:
    """Write everything in a few transactions; returns what the simulated people need to know."""
    from sqlalchemy import func, select

    from impersonator import clock
    from impersonator.extensions import db
    from impersonator.models import WEBHOOK_EVENTS, AuditEvent, Staff, Tenant, TenantDomain, User
    from impersonator.services import secret_box
    from impersonator.services.audit import Actor
    from impersonator.services.delivery import webhook_endpoints
    from impersonator.services.passwords import hash_password
    from impersonator.services.staff import totp

    now: datetime = clock.now()
    with app.app_context():
        customer_hash, staff_hash = hash_password(CUSTOMER_PASSWORD), hash_password(STAFF_PASSWORD)
        made: list[tuple[User, str, str, bool]] = []
        for slug, name, domain, policy in TENANTS:
            tenant = Tenant(slug=slug, name=name, access_policy=policy, created_at=now)
            tenant.domains.append(TenantDomain(domain=domain))
            db.session.add(tenant)
            db.session.flush()
            for n in range(customers_per_tenant):
                opted_in = policy == "opt_in_or_code" and n % 2 == 0
                user = User(
                    tenant_id=tenant.id,
                    email=f"customer{n:04d}@{slug}.example",
                    name=f"{name} Customer {n:04d}",
                    password_hash=customer_hash,
                    created_at=now,
                    support_access_opt_in_until=now + timedelta(days=7) if opted_in else None,
                )
                db.session.add(user)
                made.append((user, domain, policy, opted_in))
        members: list[StaffMember] = []
        for n in range(staff + attackers):
            # Support agents impersonate read-only, impersonators in full mode too (DESIGN §7).
            role = "impersonator" if n < staff and n % 3 == 0 else "support"
            secret = totp.new_secret()
            member = Staff(
                email=f"staff{n:03d}@load.example",
                name=f"Load Staff {n:03d}",
                role=role,
                password_hash=staff_hash,
                totp_secret_encrypted=secret_box.encrypt(secret),
                totp_enrolled_at=now,
                created_at=now,
                may_approve=role == "impersonator",  # full mode waits for a second one (DESIGN §11)
            )
            db.session.add(member)
            db.session.flush()
            members.append(StaffMember(member.id, member.email, role, secret))
        db.session.commit()
        customers = [
            Customer(user.id, user.email, domain, policy, opted_in) for user, domain, policy, opted_in in made
        ]
        created = webhook_endpoints.create(
            url=webhook_url,
            description="load test receiver",
            events=list(WEBHOOK_EVENTS),
            actor=Actor.system("loadtest"),
            ip=None,
            now=clock.now(),
        )
        watched = db.session.scalar(select(func.max(AuditEvent.seq))) or 0
        db.session.remove()
    return Seeded(customers, members[:staff], members[staff:], created.secret, watched)
