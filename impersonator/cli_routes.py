"""`flask routes` for both faces: Flask's own command lists only the app it loaded (the console),
so the tenant face's pages would be missing. Registered in place of Flask's through the
`flask.commands` entry point in pyproject.toml; the output has the same columns plus the face."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

IGNORED_METHODS = {"HEAD", "OPTIONS"}
SORT_KEYS = ("face", "endpoint", "methods", "rule", "match")


@click.command("routes", short_help="Show the routes of the console and of the tenant face.")
@click.option(
    "--sort", "-s", type=click.Choice(SORT_KEYS), default="face", help="Sort order (`match`: as listed)."
)
@click.option("--all-methods", is_flag=True, help="Show HEAD and OPTIONS too.")
@click.option("--face", type=click.Choice(("console", "tenant")), help="Only the routes of one face.")
@with_appcontext
def routes(sort: str, all_methods: bool, face: str | None) -> None:
    """Every URL the product answers, with the face (host) that serves it and its endpoint."""
    rows = [row for row in route_rows(current_app, all_methods=all_methods) if face in (None, row[0])]
    if not rows:
        click.echo("No routes were registered.")
        return
    if sort != "match":
        column = SORT_KEYS.index(sort)
        rows.sort(key=lambda row: (row[column], row[3]))
    headers = ("Face", "Endpoint", "Methods", "Rule")
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    for row in (headers, tuple("-" * width for width in widths), *rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def route_rows(app: Flask, *, all_methods: bool = False) -> list[tuple[str, str, str, str]]:
    """(face, endpoint, methods, rule) for every rule of each face, in the order they match."""
    faces = app.extensions.get("impersonator.faces") or {app.config.get("FACE", "app"): app}
    ignored = set() if all_methods else IGNORED_METHODS
    return [
        (name, rule.endpoint, ", ".join(sorted((rule.methods or set()) - ignored)), rule.rule)
        for name, face_app in faces.items()
        for rule in face_app.url_map.iter_rules()
    ]
