"""Impersonator's tenant side as a Flask extension (DESIGN §12): install it in the app your customers
use, and Impersonator's support staff can be let into an account there: with a redirect token, as a
visible, bounded, recorded ghost session.

    from impersonator.kit import ImpersonatorTenant, current_impersonation, not_for_impersonators

    ImpersonatorTenant(
        app,
        user_loader=lambda row: MyUser.for_impersonator(row),  # Impersonator's User -> your user
        base_template="base.html",                # has {{ impersonator_banner() }} on every page
        home_endpoint="index",                    # where a new ghost session lands
        current_customer=signed_in_user_row,      # Impersonator's User row of who is signed in
        credential_endpoints={"password", "mfa"}, # refused to the ghost (403), whatever the mode
        sign_in_check=require_sign_in,            # optional: your own before_request check
    )

What the host app provides
    - Impersonator's configuration, and so its database: the settings of `config.py` (the same
      class or environment as the console: SECRET_KEY, SQLALCHEMY_DATABASE_URI, AUDIT_HMAC_KEY,
      CONSOLE_HOST, PUBLIC_SCHEME/PUBLIC_PORT, SESSION_MAX_MINUTES, ACT_TOKEN_AUDIENCES…), loaded
      with `app.config.from_object(config)` before the kit starts. The kit binds Impersonator's
      `db` to the app unless the app did.
    - To be served by Impersonator's WSGI entry as its tenant face: `create_app(config,
      tenant_face=your_factory)`, which dispatches by Host and gives the kit the console's addresses
      (the End confirmation's way back to the console).
    - `user_loader(row)`: your user object for the impersonated customer (`ghost_user()` returns it,
      for your own sign-in, e.g. a Flask-Login request loader).
    - `base_template`: the kit's pages (End's confirmation, Support access) extend it and fill its
      `title` and `content` blocks; it calls `{{ impersonator_banner() }}` on every page.
    - `home_endpoint`; `current_customer()` -> Impersonator's `User` row of the signed-in customer,
      or None (the Support access pages, which the customer's mails link to, are theirs).
    - `credential_endpoints` (or `@not_for_impersonators` on the views): the account's password,
      email, MFA, API keys and consent pages, refused to every ghost (DESIGN I7).
    - Optional: `sign_in_check()`, run after the kit's steps (never for redemption and End);
      `error_nav_template`, a partial drawn in error pages' header for a signed-in viewer.
    - Flask's cookie sessions (the kit binds them to the host) and no CSRFProtect of its own (the
      kit starts Flask-WTF's; forms post `csrf_token()`).

What the kit provides
    - Tenant resolution by Host (404 for an unknown host; `tenant` in templates, `g.tenant`).
    - The ghost guard before every request, the request log after it (DESIGN I4, I7).
    - Redemption, End and its confirmation (`/impersonation/…`); the Support access pages
      (`/settings/support-access/…`: opt-in, access code, access history with Revoke, requests).
    - `current_impersonation()`, `changes_off()`, `impersonator_banner()` in templates;
      `current_impersonation()`, `ghost_user()`, `@not_for_impersonators` and `act_token(audience)`
      for Python code.
    - Masking (DESIGN §13, kit/masking.py): `{{ value|sensitive(category, key=..., label=...) }}` in
      templates, `sensitive(value, category, key=...)` and `keep_if_masked(...)` in Python, and
      `POST /impersonation/reveal` (a ghost reveals one value, or a category, with a reason).

How the host marks its sensitive values
    Each value gets a category (`payment`, `government_id`, `contact`, `private_notes`) and a key,
    a short lower-case name stable across pages (`card`, `billing_phone`): the Reveal form posts the
    category and key, never the value, and a reveal shows every value of that key in the session.
    - In templates, outside forms: `{{ card_number|sensitive("payment", key="card", label="card
      number") }}`. In a ghost session the page gets `•••• 4242` (the value is in no text, attribute
      or script), with a Reveal form where the tenant allows reveals; elsewhere the value.
    - In Python (JSON, form fields' initial data, exports): `sensitive(value, category, key=...)`.
    - Saving a form that shows a masked value: `keep_if_masked(submitted, original, category,
      key=...)` keeps the original when the field came back as its mask.
    A value that is not marked is shown as is: marking is the host's job, field by field.
"""

from __future__ import annotations

from impersonator.kit.act import act_token
from impersonator.kit.extension import ImpersonatorTenant
from impersonator.kit.ghost import changes_off, current_impersonation, ghost_user, not_for_impersonators
from impersonator.kit.host import ImpersonatorSetupError
from impersonator.kit.masking import keep_if_masked, sensitive

__all__ = [
    "ImpersonatorSetupError",
    "ImpersonatorTenant",
    "act_token",
    "changes_off",
    "current_impersonation",
    "ghost_user",
    "keep_if_masked",
    "not_for_impersonators",
    "sensitive",
]
