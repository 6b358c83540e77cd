"""The signed-in customer's home page: their projects, with forms to create and rename them."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.kit import act_token, current_impersonation
from impersonator.services import wording
from impersonator.services.customer import projects
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import act_tokens
from impersonator.tenant.forms import ProjectForm
from impersonator.web import error_page

bp = Blueprint("tenant_home", __name__)

# The demo app's own back-end: a ghost session's calls to it carry an act token (DESIGN §12).
DEMO_BACKEND = "projects-api"


@bp.get("/")
def index():
    return _home()


@bp.post("/projects")
def create_project():
    form = ProjectForm()
    if not form.validate_on_submit():
        return _home(new_form=form, status=400)
    ghost = current_impersonation() is not None
    try:
        project = projects.create_project(current_user, form.name.data, ghost=ghost, now=clock.now())
    except DomainError as refused:
        return _refused(refused)
    flash(f"Project “{project.name}” created.", "info")
    return redirect(url_for("tenant_home.index"), code=303)


@bp.post("/projects/<int:project_id>/rename")
def rename_project(project_id: int):
    form = ProjectForm()
    if not form.validate_on_submit():
        return _home(renaming=(project_id, form), status=400)
    ghost, now = current_impersonation() is not None, clock.now()
    try:
        project = projects.rename_project(current_user, project_id, form.name.data, ghost=ghost, now=now)
    except DomainError as refused:
        return _refused(refused)
    flash(f"Project renamed to “{project.name}”.", "info")
    return redirect(url_for("tenant_home.index"), code=303)


def _home(
    *, new_form: ProjectForm | None = None, renaming: tuple[int, ProjectForm] | None = None, status: int = 200
):
    items = projects.list_projects(current_user)
    if renaming and renaming[0] not in {p.id for p in items}:
        abort(404)  # someone else's project: not found, whatever was typed
    page = render_template(
        "tenant/home.html",
        projects=items,
        new_form=new_form or ProjectForm(formdata=None),
        renaming=renaming,
        backend_call=_backend_call(),
    )
    return page, status


def _backend_call() -> dict | None:
    """During a ghost session: what the demo back-end reads from the act token this page sends it
    (verified against the published keys, as any back-end would). None outside one, or before the
    first signing key exists, or where projects-api is not an allowed audience."""
    try:
        token = act_token(DEMO_BACKEND)
    except DomainError:
        return None
    if token is None:
        return None
    claims = act_tokens.verify(token, audience=DEMO_BACKEND, now=clock.now())
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    return {**claims, "mode_words": wording.mode(claims["imp_mode"]), "expires_at": expires_at}


def _refused(refused: DomainError):
    if isinstance(refused, projects.ProjectNotFound):
        return error_page(404, refused.message)
    flash(refused.message, "error")
    return _home(status=refused.status)
