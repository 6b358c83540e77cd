"""`flask routes` lists both faces, so any page can be found from its URL in one step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from impersonator.cli_routes import routes

ROOT = Path(__file__).resolve().parents[2]


def listed(output: str) -> set[tuple[str, str, str, str]]:
    """(face, endpoint, methods, rule) rows of the command's table, cut where its dashes are."""
    _, dashes, *lines = output.splitlines()
    starts = [0] + [i + 2 for i, char in enumerate(dashes) if dashes[i : i + 2] == "  "]
    cuts = list(zip(starts, [*starts[1:], None], strict=True))
    return {tuple(line[start:end].strip() for start, end in cuts) for line in lines}


def expected(face: str, face_app) -> set[tuple[str, str, str, str]]:
    return {
        (face, rule.endpoint, ", ".join(sorted(rule.methods - {"HEAD", "OPTIONS"})), rule.rule)
        for rule in face_app.url_map.iter_rules()
    }


def test_routes_lists_every_rule_of_both_faces_with_its_endpoint(app, tenant_app, runner):
    result = runner.invoke(routes)
    assert result.exit_code == 0, result.output
    rows = listed(result.output)
    assert rows == expected("console", app) | expected("tenant", tenant_app)
    assert ("tenant", "support_access.show", "GET", "/settings/support-access") in rows
    assert ("tenant", "impersonation.redeem", "POST", "/impersonation/redeem") in rows
    assert ("console", "users.show", "GET", "/users/<int:user_id>") in rows


def test_routes_of_one_face_hide_the_other(runner):
    result = runner.invoke(routes, ["--face", "tenant"])
    assert result.exit_code == 0, result.output
    faces = {row[0] for row in listed(result.output)}
    assert faces == {"tenant"}


def test_the_flask_command_itself_lists_the_tenant_face(tmp_path):
    """The venv's `flask routes` is ours (the `flask.commands` entry point), not Flask's own."""
    env = {**os.environ, "IMPERSONATOR_ENV": "development", "IMPERSONATOR_INSTANCE": str(tmp_path)}
    flask = Path(sys.executable).with_name("flask")
    result = subprocess.run(
        [str(flask), "--app", "app", "routes", "--face", "tenant"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert ("tenant", "impersonation.redeem", "POST", "/impersonation/redeem") in listed(result.stdout)
