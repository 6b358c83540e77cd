"""The tenant app's projects: a customer lists, creates and renames their own.

A customer only ever reaches their own projects: any other id, another user's or another tenant's,
is "not found". Creating and renaming notify the customer and record an analytics event; for a ghost
(full mode) the notification is suppressed and no analytics are recorded (DESIGN I7).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Project, User
from impersonator.services.customer import analytics, notifications
from impersonator.services.errors import DomainError
from impersonator.services.validation import clean_text

NAME_MAX = 200


class ProjectNotFound(DomainError):
    status = 404

    def __init__(self) -> None:
        super().__init__("project_not_found", "There is no such project.")


def list_projects(user: User) -> list[Project]:
    """The user's own projects, newest first."""
    return list(
        db.session.scalars(
            select(Project)
            .where(Project.owner_id == user.id, Project.tenant_id == user.tenant_id)
            .order_by(Project.created_at.desc(), Project.id.desc())
        )
    )


def get_project(user: User, project_id: int) -> Project:
    """One of the user's own projects, or ProjectNotFound (whoever else's it is)."""
    project = db.session.scalar(
        select(Project).where(
            Project.id == project_id, Project.owner_id == user.id, Project.tenant_id == user.tenant_id
        )
    )
    if project is None:
        raise ProjectNotFound()
    return project


def clean_name(value: str | None) -> str:
    """A project name: trimmed, 1 to NAME_MAX readable characters."""
    return clean_text(value, "Project name", max_length=NAME_MAX)


def create_project(user: User, name: str | None, *, ghost: bool, now: datetime) -> Project:
    """Create a project for `user`, notify them and record analytics (not for a ghost)."""
    name = clean_name(name)
    project = Project(tenant_id=user.tenant_id, owner_id=user.id, name=name, created_at=now, updated_at=now)
    db.session.add(project)
    db.session.flush()
    notifications.notify(
        user,
        kind="project.created",
        subject=f"Project “{name}” created",
        body=f"The project “{name}” was created in your account.",
        now=now,
    )
    analytics.track(user, "project.created", ghost=ghost, now=now)
    db.session.commit()
    return project


def rename_project(user: User, project_id: int, name: str | None, *, ghost: bool, now: datetime) -> Project:
    """Rename one of the user's projects, notify them and record analytics (not for a ghost)."""
    project = get_project(user, project_id)
    name = clean_name(name)
    if name == project.name:
        return project
    old_name = project.name
    project.name = name
    project.updated_at = now
    notifications.notify(
        user,
        kind="project.renamed",
        subject=f"Project “{old_name}” renamed to “{name}”",
        body=f"The project “{old_name}” in your account was renamed to “{name}”.",
        now=now,
    )
    analytics.track(user, "project.renamed", ghost=ghost, now=now)
    db.session.commit()
    return project
