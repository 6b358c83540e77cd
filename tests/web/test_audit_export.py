"""Export of the filtered audit log, GET /audit/export?format=csv|jsonl (issue 5 §2; DESIGN §7, I11):
CSV with formulas neutralised, JSON Lines, an attachment, bounded, and itself audited."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from impersonator.services.audit import export as audit_export
from tests.support.audit_log import append_events
from tests.support.records import audit_actions, audit_events
from tests.support.web import CONSOLE, sign_in

DAY = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # an hour after the test clock's start


@pytest.fixture
def officer(client, make_staff, clock):
    member = make_staff("security")
    sign_in(client, member, clock)
    return member


def export(client, **params):
    return client.get("/audit/export", base_url=CONSOLE, query_string=params)


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


def test_csv_export_is_an_attachment_with_every_column_newest_first(app, client, officer, clock):
    seqs = append_events(app, [{"at": DAY + timedelta(minutes=n), "ip": "192.0.2.1"} for n in range(3)])

    response = export(client, format="csv")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-log-20261123-')
    assert disposition.endswith('.csv"')
    assert response.headers["Cache-Control"] == "no-store"
    rows = csv_rows(response)
    assert list(rows[0]) == list(audit_export.COLUMNS)
    exported = [int(row["seq"]) for row in rows]
    assert exported[:3] == seqs[::-1]
    assert exported == sorted(exported, reverse=True)
    assert rows[0]["at"] == (DAY + timedelta(minutes=2)).isoformat()
    assert rows[0]["ip"] == "192.0.2.1"


HOSTILE = {
    "=": '=HYPERLINK("http://evil.example","click")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3",
    "@": "@SUM(1+9)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "carriage return": "\r=1+1",
}


@pytest.mark.parametrize("start", HOSTILE)
def test_i11_csv_cells_that_start_a_formula_are_neutralised(app, client, officer, start):
    value = HOSTILE[start]
    append_events(
        app,
        [
            {
                "at": DAY,
                "actor_type": "anonymous",
                "actor_label": value,
                "action": "staff.sign_in_failed",
                "outcome": "failure",
                "details": {"email": value},
            }
        ],
    )

    [newest] = [
        row for row in csv_rows(export(client, format="csv")) if row["action"] == "staff.sign_in_failed"
    ]

    assert newest["actor_label"] == "'" + value
    assert newest["actor_label"][0] == "'"
    assert newest["details"].startswith("{")  # JSON text starts with a brace: nothing to neutralise


def test_csv_leaves_ordinary_cells_alone(app, client, officer):
    append_events(
        app, [{"at": DAY, "actor_label": "ann@staff.example", "details": {"note": "-5 is fine inside"}}]
    )

    [row] = [r for r in csv_rows(export(client, format="csv")) if r["actor_label"] == "ann@staff.example"]

    assert row["details"] == '{"note":"-5 is fine inside"}'


def test_jsonl_export_is_one_object_per_line_with_details_as_an_object(app, client, officer):
    append_events(
        app,
        [{"at": DAY, "action": "impersonation.started", "details": {"mode": "read_only", "ticket": "<b>"}}],
    )

    response = export(client, format="jsonl", action="impersonation.started")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response.headers["Content-Disposition"].endswith('.jsonl"')
    [line] = response.text.splitlines()
    event = json.loads(line)
    assert event["action"] == "impersonation.started"
    assert event["details"] == {"mode": "read_only", "ticket": "<b>"}
    assert set(event) == set(audit_export.COLUMNS)


def test_the_export_follows_the_filters(app, client, officer, make_staff):
    ann, ben = make_staff("support"), make_staff("support")
    seqs = append_events(
        app,
        [
            {
                "at": DAY + timedelta(minutes=n),
                "actor_id": (ann, ben)[n % 2].id,
                "actor_label": (ann, ben)[n % 2].email,
            }
            for n in range(10)
        ],
    )

    rows = csv_rows(export(client, format="csv", staff=ann.id, **{"from": "2026-11-23"}))

    assert [int(row["seq"]) for row in rows] == seqs[0::2][::-1]
    assert {row["actor_label"] for row in rows} == {ann.email}


def test_the_export_is_audited_and_does_not_include_itself(app, client, officer):
    append_events(app, [{"at": DAY}])

    rows = csv_rows(export(client, format="csv", outcome="success"))

    [recorded] = audit_events(app, "audit.exported")
    assert recorded["actor_id"] == officer.id
    assert recorded["details"] == {"format": "csv", "filters": {"outcome": "success"}}
    assert "audit.exported" not in {row["action"] for row in rows}


def test_the_export_is_capped_with_a_note_and_streams_in_batches(app, client, officer, monkeypatch):
    monkeypatch.setattr(audit_export, "EXPORT_CAP", 7)
    monkeypatch.setattr(audit_export, "BATCH", 3)
    seqs = append_events(app, [{"at": DAY + timedelta(seconds=n)} for n in range(20)])

    csv_lines = export(client, format="csv", action="staff.signed_in").text.splitlines()
    jsonl_lines = export(client, format="jsonl", action="staff.signed_in").text.splitlines()

    assert [int(line.split(",")[0]) for line in csv_lines[1:8]] == seqs[::-1][:7]
    assert csv_lines[8].startswith("# Export stopped after 7 events")
    assert len(csv_lines) == 9
    assert [json.loads(line)["seq"] for line in jsonl_lines[:7]] == seqs[::-1][:7]
    assert json.loads(jsonl_lines[7]) == {"note": audit_export.cap_note()}


def test_an_export_under_the_cap_has_no_note(app, client, officer, monkeypatch):
    monkeypatch.setattr(audit_export, "BATCH", 4)
    append_events(app, [{"at": DAY + timedelta(seconds=n)} for n in range(12)])

    text = export(client, format="csv").text

    assert "Export stopped" not in text
    assert len(text.splitlines()) == 1 + len(audit_actions(app)) - 1  # every event but the export's own


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"format": "xlsx"}, "The export format is csv or jsonl."),
        ({"format": "csv", "from": "yesterday"}, "“From” must be a date such as 2026-11-23."),
        ({"format": "jsonl", "staff": "999999"}, "There is no staff member with that id or email address."),
    ],
)
def test_i11_a_bad_export_request_is_a_400_and_is_not_recorded(app, client, officer, params, message):
    response = export(client, **params)

    assert response.status_code == 400
    assert message in response.text
    assert audit_events(app, "audit.exported") == []


@pytest.mark.parametrize("role", ["support", "impersonator"])
def test_roles_only_the_security_team_may_export(app, client, make_staff, clock, role):
    sign_in(client, make_staff(role), clock)

    response = export(client, format="csv")

    assert response.status_code == 403
    assert "seq,at" not in response.text
    assert audit_events(app, "audit.exported") == []
