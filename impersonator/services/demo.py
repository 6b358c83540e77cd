"""Demo data for `make run`: two tenants, customers, one staff member per role (DESIGN §8).

Idempotent: what exists is left alone, so running it on every start is safe. The demo passwords are
fixed and public; the CLI refuses to seed outside development and testing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import ROLES, Project, Staff, Tenant, TenantDomain, User
from impersonator.services import secret_box, signing_keys
from impersonator.services.audit import Actor
from impersonator.services.customer import billing
from impersonator.services.passwords import hash_password
from impersonator.services.staff import totp
from impersonator.services.staff.accounts import create_staff

# (slug, name, domain, access policy, customers as (email, name, access)): the access states cover
# what the console shows: opted in, code needed, inactive, and a tenant that always wants a code.
DEMO_TENANTS = (
    (
        "acme",
        "Acme Corporation",
        "acme.localhost",
        "opt_in_or_code",
        (
            ("alice@acme.example", "Alice Anderson", "opted_in"),
            ("bob@acme.example", "Bob Brown", "code"),
            ("carol@acme.example", "Carol Chen", "inactive"),
        ),
    ),
    (
        "globex",
        "Globex",
        "globex.localhost",
        "code_always",
        (
            ("gina@globex.example", "Gina Garcia", "code"),
            ("hank@globex.example", "Hank Hill", "approves_each"),
        ),
    ),
)
# Globex lets its users approve each request themselves (DESIGN §11); Hank does.
DEMO_TENANT_SETTINGS = {"globex": {"users_choose_approval": True}}
# Each demo customer's projects, oldest first (the home page lists them newest first).
DEMO_PROJECTS = {
    "alice@acme.example": ("Website relaunch", "Quarterly budget", "Customer onboarding guide"),
    "bob@acme.example": ("Warehouse inventory", "Supplier contracts"),
    "carol@acme.example": ("Conference travel", "Team handbook"),
    "gina@globex.example": ("Product roadmap", "Hiring plan", "Office move"),
    "hank@globex.example": ("Security review", "Support playbook"),
}
# Each demo customer's billing details (card brand, card number, phone, tax id, private notes): one
# value of every sensitive category, masked in a ghost session (DESIGN §13). Public test card numbers.
DEMO_BILLING = {
    "alice@acme.example": (
        "Visa",
        "4242 4242 4242 4242",
        "+1 415 555 0134",
        "123-45-6789",
        "Prefers invoices in March.",
    ),
    "bob@acme.example": ("Mastercard", "5555 5555 5555 4444", "+1 212 555 0178", "234-56-7890", ""),
    "carol@acme.example": ("Visa", "4000 0566 5566 5556", "+1 312 555 0191", "345-67-8901", "On leave."),
    "gina@globex.example": (
        "American Express",
        "3782 822463 10005",
        "+44 20 7946 0321",
        "456-78-9012",
        "Pays by bank transfer.",
    ),
    "hank@globex.example": ("Mastercard", "2223 0031 2200 3222", "+1 713 555 0144", "567-89-0123", ""),
}
DEMO_STAFF_NAMES = {
    "support": "Sam Support",
    "impersonator": "Ivy Impersonator",
    "security": "Sid Security",
    "admin": "Ada Admin",
}
OPT_IN_DAYS = 30  # the longest opt-in there is (OPT_IN_MAX_DAYS); it lapses by itself
CUSTOMER_PASSWORD = "customer-demo-password"  # noqa: S105  (public demo data)


@dataclass(frozen=True)
class DemoStaff:
    email: str
    name: str
    role: str
    password: str
    totp_secret: str | None
    otpauth_uri: str | None


def staff_password(role: str) -> str:
    return f"{role}-demo-password"


def _seed_projects(tenant_id: int, email: str, *, now: datetime) -> None:
    """The customer's demo projects, only when they have none (so their own changes stay)."""
    user = db.session.scalar(select(User).where(User.tenant_id == tenant_id, User.email == email))
    if user is None or db.session.scalar(select(Project.id).where(Project.owner_id == user.id).limit(1)):
        return
    names = DEMO_PROJECTS.get(email, ())
    for age, name in enumerate(reversed(names)):
        created = now - timedelta(days=age + 1)
        db.session.add(
            Project(tenant_id=tenant_id, owner_id=user.id, name=name, created_at=created, updated_at=created)
        )


def _seed_billing(tenant_id: int, email: str, *, now: datetime) -> None:
    """The customer's demo billing details, only when they have none."""
    user = db.session.scalar(select(User).where(User.tenant_id == tenant_id, User.email == email))
    if user is None or email not in DEMO_BILLING:
        return
    brand, card, phone, tax_id, notes = DEMO_BILLING[email]
    billing.add_profile(
        user, card_brand=brand, card_number=card, phone=phone, tax_id=tax_id, notes=notes, now=now
    )


def seed_demo(*, now: datetime, issuer: str) -> list[DemoStaff]:
    """Create whatever demo data is missing; returns the demo staff sign-ins to print."""
    for slug, name, domain, access_policy, customers in DEMO_TENANTS:
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            settings = DEMO_TENANT_SETTINGS.get(slug, {})
            tenant = Tenant(slug=slug, name=name, access_policy=access_policy, created_at=now, **settings)
            tenant.domains.append(TenantDomain(domain=domain))
            db.session.add(tenant)
            db.session.flush()
        for email, customer_name, access in customers:
            exists = db.session.scalar(
                select(User.id).where(User.tenant_id == tenant.id, User.email == email)
            )
            if exists is None:
                db.session.add(
                    User(
                        tenant_id=tenant.id,
                        email=email,
                        name=customer_name,
                        password_hash=hash_password(CUSTOMER_PASSWORD),
                        created_at=now,
                        active=access != "inactive",
                        support_access_opt_in_until=(
                            now + timedelta(days=OPT_IN_DAYS) if access == "opted_in" else None
                        ),
                        approve_each_request=access == "approves_each",
                    )
                )
        db.session.flush()
        for email, _name, _access in customers:
            _seed_projects(tenant.id, email, now=now)
            _seed_billing(tenant.id, email, now=now)
    db.session.commit()

    for role in ROLES:
        email = demo_staff_email(role)
        if db.session.scalar(select(Staff.id).where(Staff.email == email)) is None:
            staff, _ = create_staff(
                email=email,
                name=DEMO_STAFF_NAMES[role],
                role=role,
                actor=Actor.system("seed-demo"),
                now=now,
                password=staff_password(role),
            )
            staff.totp_secret_encrypted = secret_box.encrypt(totp.new_secret())
            staff.totp_enrolled_at = now
            db.session.commit()
    # The demo app's home page shows the act token a ghost session sends to its back-end.
    signing_keys.ensure_key(actor=Actor.system("seed-demo"), ip=None, now=now)
    return demo_staff(issuer=issuer)


def demo_staff_email(role: str) -> str:
    return f"{role}@impersonator.example"


def demo_staff(*, issuer: str) -> list[DemoStaff]:
    """The demo staff members that exist, one per role, with their sign-ins and TOTP secrets."""
    accounts = []
    for role in ROLES:
        email = demo_staff_email(role)
        staff = db.session.scalar(select(Staff).where(Staff.email == email))
        if staff is None:
            continue
        secret = secret_box.decrypt(staff.totp_secret_encrypted) if staff.totp_enrolled else None
        accounts.append(
            DemoStaff(
                email=email,
                name=staff.name,
                role=role,
                password=staff_password(role),
                totp_secret=secret,
                otpauth_uri=totp.provisioning_uri(secret, email, issuer) if secret else None,
            )
        )
    return accounts
