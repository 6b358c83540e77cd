"""The admin's switches: the global kill switch, each tenant's switch, access policy and notice
defaults."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import requires
from impersonator.console.admin_forms import GlobalSwitchForm, TenantSettingsForm
from impersonator.services import masking
from impersonator.services.admin import settings, switches
from impersonator.services.admin.switches import POLICY_LABELS, TenantSettings, reason_codes_setting
from impersonator.services.approvals.rules import allowed_reason_codes
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError
from impersonator.services.staff.roles import Permission
from impersonator.web import client_ip, error_page

bp = Blueprint("admin_switches", __name__, url_prefix="/admin/switches")


def tenant_form(tenant, **kwargs) -> TenantSettingsForm:
    """A tenant's form; the prefix keeps field ids unique on a page of many tenants."""
    form = TenantSettingsForm(prefix=f"tenant-{tenant.id}", **kwargs)
    if kwargs.get("formdata", True) is None:  # shown, not posted: the reasons as the tenant has them
        form.reason_codes.data = list(allowed_reason_codes(tenant))
        form.reveal_categories.data = list(masking.allowed_categories(tenant))
    return form


@bp.get("/")
@requires(Permission.ADMIN)
def index():
    return _page()


@bp.post("/global")
@requires(Permission.ADMIN)
def global_switch():
    form = GlobalSwitchForm()
    if not form.validate_on_submit():
        if form.enabled.errors:  # a value the page never offers: start the form afresh
            flash("Choose on or off.", "error")
            return _page(status=400)
        return _page(global_form=form, status=400)
    enabled = form.enabled.data == "on"
    result = switches.set_global_switch(
        enabled, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now()
    )
    if not result.changed:
        flash(f"Impersonation was already {'on' if enabled else 'off'}.", "info")
    elif enabled:
        flash("Impersonation is on again. Nothing that was ended comes back.", "info")
    else:
        flash(f"Impersonation is off for everyone. {_sessions(result.sessions_ended)} ended.", "info")
    return redirect(url_for("admin_switches.index"), code=303)


@bp.post("/tenants/<int:tenant_id>")
@requires(Permission.ADMIN)
def tenant(tenant_id: int):
    rows = {row.tenant.id: row for row in switches.tenants(clock.now())}
    if tenant_id not in rows:
        abort(404)
    form = tenant_form(rows[tenant_id].tenant)
    if not form.validate_on_submit():
        return _page(failed_tenant=(tenant_id, form), status=400)
    wanted = TenantSettings(
        impersonation_enabled=form.impersonation_enabled.data,
        access_policy=form.access_policy.data,
        notify_on_access_default=form.notify_on_access_default.data,
        hide_justification=form.hide_justification.data,
        two_person=form.two_person.data,
        users_choose_approval=form.users_choose_approval.data,
        ticket_pattern=(form.ticket_pattern.data or "").strip() or None,
        reason_codes=reason_codes_setting(form.reason_codes.data),
        reveal_categories=masking.categories_setting(form.reveal_categories.data),
        reveal_whole_category=form.reveal_whole_category.data,
        reveals_full_mode_only=form.reveals_full_mode_only.data,
    )
    try:
        result = switches.update_tenant(
            tenant_id, wanted, actor=Actor.staff(current_user), ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        if refused.status == 404:
            return error_page(404)
        flash(refused.message, "error")
        return _page(failed_tenant=(tenant_id, form), status=refused.status)
    name = rows[tenant_id].tenant.name
    if not result.changes:
        flash(f"Nothing changed for {name}.", "info")
    elif result.sessions_ended:
        flash(f"Saved the settings of {name}. {_sessions(result.sessions_ended)} ended.", "info")
    else:
        flash(f"Saved the settings of {name}.", "info")
    return redirect(url_for("admin_switches.index"), code=303)


def _page(*, global_form: GlobalSwitchForm | None = None, failed_tenant=None, status: int = 200):
    now = clock.now()
    rows = switches.tenants(now)
    forms = {}
    for row in rows:
        if failed_tenant and failed_tenant[0] == row.tenant.id:
            forms[row.tenant.id] = failed_tenant[1]
        else:
            forms[row.tenant.id] = tenant_form(row.tenant, formdata=None, obj=row.tenant)
    enabled = settings.impersonation_enabled()
    if global_form is None:
        global_form = GlobalSwitchForm(formdata=None, enabled="off" if enabled else "on")
    page = render_template(
        "console/admin/admin_switches.html",
        enabled=enabled,
        live=switches.live_sessions(now),
        global_form=global_form,
        rows=rows,
        forms=forms,
        policy_labels=POLICY_LABELS,
    )
    return page, status


def _sessions(count: int) -> str:
    return "1 live ghost session" if count == 1 else f"{count} live ghost sessions"
