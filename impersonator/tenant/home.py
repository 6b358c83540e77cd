"""The signed-in customer's home page: their projects, with forms to create and rename them."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.services.customer import projects
from impersonator.services.errors import DomainError
from impersonator.tenant.forms import ProjectForm
from impersonator.tenant.ghost import current_impersonation
from impersonator.web import error_page

bp = Blueprint("tenant_home", __name__)


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
        "tenant/home.html", projects=items, new_form=new_form or ProjectForm(formdata=None), renaming=renaming
    )
    return page, status


def _refused(refused: DomainError):
    if isinstance(refused, projects.ProjectNotFound):
        return error_page(404, refused.message)
    flash(refused.message, "error")
    return _home(status=refused.status)
