"""I11, issue 19: a fuzzer (Hypothesis) sends the app what no browser does — to the redemption
endpoint, to every form (with the page's valid CSRF token, so input reaches validation), in query
strings, paths, headers and signed session cookies of the wrong shape — on both databases. Every
input gets an answer below 500, and no exception escapes the app (the tests run with TESTING on, so
Flask re-raises: Hypothesis then shrinks the input to a minimal reproducer).

`make test` runs a bounded, repeatable number of inputs; `make fuzz` runs 10⁶ (tests/fuzz/conftest.py)."""

from __future__ import annotations

import re
from collections import defaultdict
from types import SimpleNamespace
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from werkzeug.test import EnvironBuilder, run_wsgi_app

from impersonator.services.impersonation import tokens
from impersonator.services.keys import derived_key
from tests.fuzz import inputs
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.world import FUZZ_ENVIRON, Counter, fill
from tests.support.impersonation import REDEEM_PATH
from tests.support.web import ACME, CONSOLE

pytestmark = pytest.mark.fuzz

CONTENT_TYPES = [
    None,
    "text/plain",
    "application/json",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=other",
    "application/x-www-form-urlencoded; charset=latin-1",
]


def check(response, what: str) -> None:
    assert response.status_code < 500, f"{response.status_code} for {what}: {response.text[:300]}"


def persona_on(world, base: str) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(name for name, p in world.personas.items() if p.base == base))


def test_i11_fuzzed_redemption_never_500(world):
    spent = world.spent_token
    # Tokens well signed with the tests' key (as development's, it is no secret) over claims of any
    # shape: the spent token's own, each possibly replaced by a value of the wrong type.
    with world.app.app_context():
        signer = URLSafeTimedSerializer(
            [derived_key("redirect-tokens").hex()], salt=tokens.SALT, serializer=inputs.AnyJSON
        )
    _, claims = signer.loads_unsafe(spent)
    forged = st.builds(
        lambda i, j, a: signer.dumps({"i": i, "j": j, "a": a}),
        *(st.one_of(st.just(claims[key]), inputs.odd_value) for key in "ija"),
    )
    token = st.one_of(
        forged,
        inputs.value,
        st.just(spent),
        st.integers(0, len(spent)).map(lambda n: spent[:n]),
        st.builds(lambda t: spent + t, inputs.text),
        st.builds(
            lambda i, c: spent[:i] + c + spent[i + 1 :],
            st.integers(0, len(spent)),
            st.sampled_from(inputs.ODD),
        ),
    )
    part = st.tuples(st.just("token"), token, st.one_of(st.none(), st.none(), inputs.filename))
    parts = st.lists(st.one_of(part, part, st.tuples(st.none(), token, inputs.filename)), max_size=4)

    with Counter(world, "redeem") as counter:

        @fuzz_settings("redeem")
        @given(
            who=st.sampled_from(["anonymous-acme", "alice", "ghost"]),
            parts=parts,
            as_multipart=st.booleans(),
            content_type=st.sampled_from(CONTENT_TYPES),
        )
        def redeem(who, parts, as_multipart, content_type):
            counter.add()
            body, natural = inputs.encode(parts, as_multipart)
            response = world.personas[who].client.post(
                REDEEM_PATH,
                base_url=ACME,
                data=body,
                content_type=content_type or natural,
                environ_overrides=FUZZ_ENVIRON,
            )
            check(response, f"redeem {parts!r:.300}")

        redeem()


def test_i11_every_form_fuzzed_with_a_valid_csrf_token_never_500(world):
    assert len(world.forms) >= 20, [f.action for f in world.forms]  # discovery found the app's forms
    kinds = defaultdict(list)
    for form in world.forms:
        kinds[(form.persona, re.sub(r"/\d+", "/<id>", form.action))].append(form)

    with Counter(world, "forms") as counter:

        @fuzz_settings("forms")
        @given(data=st.data())
        def submit(data):
            # A kind of form first (the staff page has one per row), then one of its kind.
            kind = data.draw(st.sampled_from(sorted(kinds)), label="kind")
            form = data.draw(st.sampled_from(kinds[kind]), label="form")
            parts = data.draw(inputs.parts_for(form.fields), label="parts")
            with_token = data.draw(st.sampled_from([True, True, True, True, False]), label="with_token")
            as_multipart = data.draw(st.booleans(), label="as_multipart")
            counter.add()
            client, token = world.fresh_form(form)
            sent_token = bool(with_token and token)
            if sent_token:
                parts = [("csrf_token", token, None), *parts]
            body, content_type = inputs.encode(parts, as_multipart)
            response = client.post(
                form.action,
                base_url=form.base,
                data=body,
                content_type=content_type,
                environ_overrides=FUZZ_ENVIRON,
            )
            world.submitted(form, response, sent_token)
            check(response, f"{form.persona} POST {form.action}")

        submit()


def test_i11_fuzzed_query_strings_never_500(world):
    pairs = inputs.query_pairs.map(lambda p: urlencode(p))
    with Counter(world, "query") as counter:

        @fuzz_settings("query")
        @given(data=st.data())
        def get(data):
            base, page = data.draw(st.sampled_from(world.pages), label="page")
            who = data.draw(persona_on(world, base), label="who")
            query = data.draw(st.one_of(pairs, inputs.raw_query), label="query")
            counter.add()
            client = world.personas[who].client
            response = client.get(
                page, base_url=base, environ_overrides={**FUZZ_ENVIRON, "QUERY_STRING": query}
            )
            check(response, f"{who} GET {page}?{query!r:.200}")

        get()


def test_i11_fuzzed_paths_and_ids_never_500(world):
    rules = [(base, rule) for base in (CONSOLE, ACME) for rule in world.rules(base)]
    with Counter(world, "paths") as counter:

        @fuzz_settings("paths")
        @given(data=st.data())
        def hit(data):
            base, rule = data.draw(st.sampled_from(rules), label="rule")
            who = data.draw(persona_on(world, base), label="who")
            method = data.draw(st.sampled_from(sorted(rule.methods - {"OPTIONS"})), label="method")
            kind = data.draw(st.sampled_from(["rule", "rule", "text", "raw"]), label="kind")
            environ = dict(FUZZ_ENVIRON)
            if kind == "rule":
                path = fill(rule.rule, lambda _arg: quote(data.draw(inputs.path_arg, label="arg"), safe=""))
            elif kind == "text":
                path = "/" + quote(data.draw(st.text(max_size=40), label="path"), safe="/")
            else:
                path = "/"
                environ["PATH_INFO"] = data.draw(st.binary(max_size=40), label="raw").decode("latin-1")
            counter.add()
            response = world.personas[who].client.open(
                path, method=method, base_url=base, environ_overrides=environ
            )
            check(response, f"{who} {method} {path!r:.200} {environ}")

        hit()


def test_i11_fuzzed_headers_and_hosts_never_500(world):
    with Counter(world, "headers") as counter:

        @fuzz_settings("headers")
        @given(data=st.data())
        def hit(data):
            base, page = data.draw(st.sampled_from(world.pages), label="page")
            who = data.draw(persona_on(world, base), label="who")
            environ = dict(FUZZ_ENVIRON)
            if data.draw(st.booleans(), label="odd_host"):
                environ["HTTP_HOST"] = inputs.environ_value(data.draw(inputs.host, label="host"))
            for name, value in data.draw(
                st.lists(st.tuples(inputs.header_name, inputs.header_value), max_size=4)
            ):
                key = name.upper().replace("-", "_")
                environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = inputs.environ_value(value)
            method = data.draw(st.sampled_from(["GET", "GET", "POST", "HEAD"]), label="method")
            counter.add()
            # The test client parses the Host itself once the app has answered (and trips on an
            # odd one such as `xn--`): run the app on the bare WSGI environ, the browser's cookies
            # sent as a raw header.
            cookies = world.personas[who].cookie_header()
            environ["HTTP_COOKIE"] = "; ".join(filter(None, [cookies, environ.get("HTTP_COOKIE", "")]))
            builder = EnvironBuilder(page, base_url=base, method=method, environ_overrides=environ)
            try:
                _, status, _ = run_wsgi_app(world.app, builder.get_environ(), buffered=True)
            finally:
                builder.close()
            response = SimpleNamespace(status_code=int(status.split()[0]), text=status)
            check(response, f"{who} {method} {page} {environ!r:.400}")

        hit()


def _paths(payload, prefix=()):
    """Every key path of a session payload, nested dicts included."""
    for key, val in payload.items():
        yield (*prefix, key)
        if isinstance(val, dict):
            yield from _paths(val, (*prefix, key))


def _mutate(payload, path, new, delete: bool):
    payload = dict(payload)
    head, *rest = path
    if rest:
        payload[head] = _mutate(
            payload[head] if isinstance(payload.get(head), dict) else {}, rest, new, delete
        )
    elif delete:
        payload.pop(head, None)
    else:
        payload[head] = new
    return payload


@pytest.mark.parametrize("face", [CONSOLE, ACME], ids=["console", "tenant"])
@pytest.mark.parametrize("shape", ["mapping", "anything"])
def test_i11_signed_session_cookies_of_the_wrong_types_never_500(world, shape, face):
    """A cookie signed with the face's own key (a leaked key, a cookie of an old release) carrying a
    payload of the wrong shape ends in the ordinary signed-out path: values of the wrong types in the
    session's own keys (`mapping`), or a payload that is not even a mapping (`anything`), on each
    face, tried apart so one failure does not hide the others."""
    faces = {CONSOLE: world.app, ACME: world.tenant_app}

    def serializer(base):
        flask_app = faces[base]
        with flask_app.test_request_context(base_url=base):
            return flask_app.session_interface.get_signing_serializer(flask_app)

    serializers = {base: serializer(base) for base in faces}
    real = []  # (base, payload) of every signed-in kind of user
    for persona in world.personas.values():
        cookie_name = faces[persona.base].config["SESSION_COOKIE_NAME"]
        cookie = persona.client.get_cookie(cookie_name, domain=persona.base.split("//")[1])
        if cookie is not None and persona.name not in ("anonymous-console", "anonymous-acme"):
            real.append((persona.base, serializers[persona.base].loads(cookie.value)))
    real = [(base, payload) for base, payload in [*real, (CONSOLE, {}), (ACME, {})] if base == face]

    with Counter(world, f"cookies-{shape}-{'console' if face == CONSOLE else 'tenant'}") as counter:

        @fuzz_settings("cookies")
        @given(data=st.data())
        def hit(data):
            base, payload = data.draw(st.sampled_from(real), label="real")
            paths = sorted(_paths(payload), key=repr)
            for _ in range(data.draw(st.integers(1, 3), label="changes")):
                path = data.draw(
                    st.one_of(st.sampled_from(paths), st.text(max_size=8).map(lambda k: (k,)))
                    if paths
                    else st.text(max_size=8).map(lambda k: (k,)),
                    label="path",
                )
                payload = _mutate(
                    payload, path, data.draw(inputs.odd_value, label="value"), data.draw(st.booleans())
                )
            if shape == "anything":
                payload = data.draw(inputs.odd_value, label="payload")
            pages = [path for page_base, path in world.pages if page_base == base]
            page = data.draw(st.sampled_from(pages), label="page")
            counter.add()
            client = world.app.test_client()
            client.set_cookie(
                faces[base].config["SESSION_COOKIE_NAME"],
                serializers[base].dumps(payload),
                domain=base.split("//")[1],
            )
            response = client.get(page, base_url=base, environ_overrides=FUZZ_ENVIRON)
            check(response, f"GET {base}{page} with session {payload!r:.300}")

        hit()
