"""The product's words for its codes (services/wording.py; DESIGN §3: every end reason has one wording,
used on every page and mail that names it). Every code the product stores or records has words, so no
page falls back to showing `user_revoked` or `impersonation.started`; and the pages that word an end
reason (the ghost's "impersonation ended" page, My impersonations, the customer's access history, the
security team's pages) all read the one table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from impersonator import ROOT
from impersonator.console.impersonations import END_LABELS
from impersonator.models import APPROVAL_STATES, END_REASONS, MASK_CATEGORIES, MODES, REASON_CODES
from impersonator.models.approval import CONSENT_KINDS
from impersonator.services import wording
from impersonator.services.audit.log import OUTCOMES
from impersonator.services.consent.access_history import END_TEXT, MODE_TEXT
from impersonator.services.impersonation.ghost import END_MESSAGES

PACKAGE = ROOT / "impersonator"
# The functions that write an audit event, and the parameter that names what it records.
WRITERS = {
    "record": ("action", "action"),
    "about_user": ("action", "action"),
    "about_staff": ("action", "action"),
    "raise_alert": ("kind", "alert"),
}


def recorded() -> tuple[dict[str, set[str]], list[str]]:
    """Every audit action and security-alert kind the code records, read from the source: each call
    of a writer, or of a function that hands its own parameter on to one (`_audit(user, action)`),
    with a string, a conditional of strings, or a local name assigned such (`action = "a" if … else
    "b"`). Also the places whose value could not be read, so a new way to name an action is noticed."""
    functions: list[tuple[Path, ast.FunctionDef]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions += [(path, node) for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    params: dict[str, dict[Path, list[str]]] = {}
    for path, fn in functions:
        params.setdefault(fn.name, {})[path] = _params(fn)
    writers = dict(WRITERS)

    def argument(path: Path, call: ast.Call, param: str) -> ast.expr | None:
        for keyword in call.keywords:
            if keyword.arg == param:
                return keyword.value
        by_module = params.get(_name(call) or "", {})
        names = by_module.get(path) or next(iter(by_module.values()), [])
        if param not in names:
            return None
        index = names.index(param) - (names[0] in ("self", "cls"))
        return call.args[index] if index < len(call.args) else None

    calls = [
        (path, fn, node) for path, fn in functions for node in ast.walk(fn) if isinstance(node, ast.Call)
    ]
    while True:
        handing_on = {}
        for path, fn, call in calls:
            writer = writers.get(_name(call) or "")
            if writer is None or fn.name in writers:
                continue
            arg = argument(path, call, writer[0])
            if isinstance(arg, ast.Name) and arg.id in _params(fn):
                handing_on[fn.name] = (arg.id, writer[1])
        if not handing_on:
            break
        writers.update(handing_on)
    found: dict[str, set[str]] = {"action": set(), "alert": set()}
    unread = []
    for path, fn, call in calls:
        writer = writers.get(_name(call) or "")
        if writer is None:
            continue
        arg = argument(path, call, writer[0])
        if isinstance(arg, ast.Name) and fn.name in writers and arg.id == writers[fn.name][0]:
            continue  # handed on: read where this function is called
        values = _values(arg, fn)
        if values is None:
            unread.append(f"{path.relative_to(ROOT)}:{call.lineno}")
        else:
            found[writer[1]] |= values
    return found, unread


def _params(fn: ast.FunctionDef) -> list[str]:
    return [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]


def _name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else None


def _values(node: ast.expr | None, fn: ast.FunctionDef) -> set[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _values(node.body, fn), _values(node.orelse, fn)
        return None if body is None or orelse is None else body | orelse
    if isinstance(node, ast.Name):
        assigned = [
            n.value
            for n in ast.walk(fn)
            if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)
        ]
        values = [_values(value, fn) for value in assigned]
        if values and None not in values:
            return set().union(*values)
    return None


# --- every code has words ---------------------------------------------------------------------------


def test_every_action_the_code_records_has_a_label():
    found, unread = recorded()

    assert not unread, f"cannot tell which action these record: {unread}"
    assert len(found["action"]) > 30  # the reader still finds them
    assert sorted(found["action"] - set(wording.ACTIONS)) == []
    assert sorted(set(wording.ACTIONS) - found["action"]) == [], "a label for an action nothing records"


def test_every_security_alert_kind_has_a_label():
    found, _ = recorded()

    assert found["alert"] and sorted(found["alert"] - set(wording.ALERTS)) == []
    assert sorted(set(wording.ALERTS) - found["alert"]) == []


@pytest.mark.parametrize(
    ("table", "codes"),
    [
        (wording.END_REASONS, END_REASONS),
        (wording.MODES, MODES),
        (wording.ACCESS_ROUTES, CONSENT_KINDS),
        (wording.OUTCOMES, OUTCOMES),
        (wording.STATES, ("issued", "expired_unredeemed", "active", "ended")),
        (wording.REASON_CODES, REASON_CODES),
        (wording.APPROVAL_STATES, APPROVAL_STATES),
        (wording.MASK_CATEGORIES, MASK_CATEGORIES),
    ],
    ids=[
        "end reasons",
        "modes",
        "access routes",
        "outcomes",
        "states",
        "reason codes",
        "approval states",
        "mask categories",
    ],
)
def test_every_code_has_a_label_and_no_label_lacks_a_code(table, codes):
    assert set(table) == set(codes)


def test_the_access_routes_are_the_ones_an_impersonation_is_given():
    # An impersonation's access_via is the consent its request needed (approvals/rules.needs).
    source = (PACKAGE / "services" / "approvals" / "rules.py").read_text(encoding="utf-8")

    assert set(re.findall(r'consent="(\w+)"', source)) | {"code", "opt_in"} == set(CONSENT_KINDS)
    assert '"code" if policy.code_required(user, now) else "opt_in"' in source


@pytest.mark.parametrize("audience", wording.AUDIENCES)
def test_no_words_are_a_code(audience):
    for table in (wording.END_REASONS, wording.MODES, wording.ACCESS_ROUTES, wording.ACTIONS, wording.ALERTS):
        for code, words in table.items():
            text = words.to(audience)
            assert text and "_" not in text and text != code, (code, text)


# --- one reason, one wording ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wording_of_a_page", "audience"),
    [(END_LABELS, "staff"), (END_TEXT, "customer")],
    ids=["my-impersonations", "access-history"],
)
def test_the_pages_read_the_one_table(wording_of_a_page, audience):
    assert wording_of_a_page == {code: wording.end_reason(code, audience) for code in END_REASONS}


def test_the_ghosts_ended_page_says_the_same_words_as_a_sentence():
    assert {code: wording.end_sentence(code, "staff") for code in END_REASONS} == END_MESSAGES
    assert END_MESSAGES["user_revoked"] == "Ended by the customer."
    assert END_MESSAGES["security_terminated"] == "Terminated by the security team."


def test_the_customers_modes_explain_themselves():
    assert MODE_TEXT == {"read_only": "read-only (no changes)", "full": "full access (may make changes)"}


def test_audiences_differ_only_in_who_you_are():
    # The customer's own revoke is theirs; the staff member's own end is theirs; everyone else reads
    # the neutral label.
    assert wording.end_reason("user_revoked", "customer") == "ended by you"
    assert wording.end_reason("user_revoked", "staff") == "ended by the customer"
    assert wording.end_reason("user_revoked") == "ended by the customer"
    assert wording.end_reason("staff_ended", "staff") == "ended by you"
    assert wording.end_reason("staff_ended", "customer") == "ended by the support agent"
    assert wording.end_reason("staff_ended") == "ended by the support agent"
    same_for_all = [
        code
        for code, words in wording.END_REASONS.items()
        if len({words.to(audience) for audience in wording.AUDIENCES}) == 1
    ]
    assert {"security_terminated", "expired", "switched_off", "token_expired"} <= set(same_for_all)


def test_a_totp_reset_is_worded_as_such():
    assert END_MESSAGES["totp_reset"] == "Ended: your authenticator was reset."
    assert wording.end_reason("totp_reset") == "ended: the support agent's authenticator was reset"


def test_unknown_codes_read_as_words_and_never_raise():
    assert wording.end_reason("some_new_reason") == "some new reason"
    assert wording.action("test.n1") == "test: n1"
    assert wording.outcome(None) == ""
    assert wording.end_sentence(None) == "Ended."
    assert wording.system_actor("sweeper") == "the sweeper" and wording.system_actor(None) == "the system"
