"""Masking sensitive values in a ghost session, and revealing one with a reason (DESIGN §13).

The host app marks each sensitive value with a category and a stable key of its own choosing:

    {{ card_number|sensitive("payment", key="card", label="card number") }}   in a template
    sensitive(user.phone, "contact", key="phone")                             in Python (text)
    keep_if_masked(form.phone.data, user.phone, "contact", key="phone")       when a form is saved

Outside a ghost session every one of them is the value itself. In a ghost session the page gets the
mask the server computes (`•••• 4242`), never the value, not even in an attribute; the filter adds a
*Reveal* form where the tenant allows it, which posts the category and key (never the value) with the
ghost's reason to `POST /impersonation/reveal`. The session's reveals are kept on the server, so the
next page shows that one value (or the whole category) unmasked.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from markupsafe import Markup, escape

from impersonator import clock
from impersonator.kit.forms import RevealForm
from impersonator.kit.ghost import current_impersonation
from impersonator.kit.host import host
from impersonator.kit.impersonation import TEMPLATES
from impersonator.services import masking, rate_limits, wording
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import reveals
from impersonator.web import client_ip, error_page, safe_next
from impersonator.web_limits import Subject, rate_limited

bp = Blueprint("masking", __name__, url_prefix="/impersonation", template_folder=str(TEMPLATES))
NOT_A_GHOST = "Only support staff in an impersonation reveal masked values: yours are never masked."


def _revealed() -> reveals.Revealed:
    """This ghost session's reveals, read once per request."""
    if "masking_revealed" not in g:
        g.masking_revealed = reveals.revealed(current_impersonation().impersonation_id)
    return g.masking_revealed


def is_masked(category: str, key: str) -> bool:
    """Is the value (`category`, `key`) masked on this request: a ghost session that has not revealed it?"""
    masking.check_category(category)
    masking.check_key(key)
    return current_impersonation() is not None and not _revealed().shows(category, key)


def sensitive(value: str | None, category: str, *, key: str) -> str | None:
    """The value as this request may show it: itself, or its mask in a ghost session that has not
    revealed it. Text for the host's JSON, form fields and anything else outside a template."""
    if not is_masked(category, key):
        return value
    return masking.mask(value, category)


def keep_if_masked(submitted: str | None, original: str | None, category: str, *, key: str) -> str | None:
    """What a saved form field should store: the original where the field came back as its mask (or
    not at all), so a full-mode form never writes a mask over the value; anything typed replaces it."""
    if not is_masked(category, key):
        return submitted
    if submitted is None or submitted == masking.mask(original, category):
        return original
    return submitted


def sensitive_filter(value: str | None, category: str, key: str, label: str | None = None) -> Markup:
    """The template filter: the value, or its mask with a *Reveal* form where the tenant allows one.
    Use it outside forms (the Reveal form cannot nest in another); in a form field use `sensitive()`."""
    if not is_masked(category, key):
        return escape("" if value is None else value)
    ghost = current_impersonation()
    macros = current_app.jinja_env.get_template("tenant/impersonation/_masked.html").module
    return macros.masked(
        masking.mask(value, category),
        category,
        wording.mask_category(category),
        key,
        label or key.replace("_", " "),
        masking.scopes_allowed(g.tenant, ghost.mode, category),
        request.path,
    )


def revealer() -> Subject | None:
    """The staff member behind the ghost session counts each reveal; anyone else is refused unlimited."""
    ghost = current_impersonation()
    return None if ghost is None else rate_limits.impersonator(ghost, ip=client_ip(), tenant_id=g.tenant.id)


@bp.post("/reveal")
@rate_limited("reveal", revealer)
def reveal():
    """Reveal one masked value (or its category) for the rest of the ghost session, with a reason.
    Allowed to read-only ghosts (kit/ghost.py ALWAYS_ALLOWED): it changes nothing in the account."""
    ghost = current_impersonation()
    if ghost is None:
        return error_page(403, NOT_A_GHOST, title="Nothing to reveal")
    form = RevealForm()
    form.validate()  # text only (a file part is refused with a page naming it); the service checks the rest
    try:
        done = reveals.reveal(
            ghost,
            g.tenant,
            category=form.category.data or "",
            key=form.key.data,
            scope=form.scope.data or "one",
            reason=form.reason.data,
            ip=client_ip(),
            now=clock.now(),
        )
    except DomainError as refused:
        return error_page(refused.status, refused.message, title="Not revealed")
    flash(f"Revealed {done.what}. Your reason is recorded and shown to the customer.", "info")
    return redirect(safe_next(form.back.data) or url_for(host().home_endpoint), code=303)
