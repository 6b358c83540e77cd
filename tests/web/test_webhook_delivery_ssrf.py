"""I10's SSRF guard: webhook URLs that point at loopback, link-local or private ranges are refused
outside development, when an endpoint is saved and again at delivery, and delivery connects to the
very address that was checked (no DNS rebinding); malformed URLs get a clear refusal (I11)."""

from __future__ import annotations

import pytest

from impersonator.extensions import db
from impersonator.services import audit
from impersonator.services.audit import Actor
from impersonator.services.delivery import webhook_endpoints, webhooks
from impersonator.services.errors import InvalidInput
from tests.support.webhook_receiver import HOOK, answer
from tests.support.webhooks import arrivals, messages, subscribe, work

PRIVATE_URLS = [
    "http://127.0.0.1/hooks",
    "http://127.1.2.3:8080/hooks",
    "https://10.0.0.5/hooks",
    "http://172.16.0.1/hooks",
    "http://192.168.1.10/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[fe80::1]/hooks",
    "http://[fd00::1]/hooks",
    "http://0.0.0.0/hooks",
    "http://100.64.0.1/hooks",
    "http://localhost/hooks",
    "http://LocalHost:8080/hooks",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_i10_ssrf_private_loopback_and_link_local_urls_are_refused(make_app, clock, url):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        webhook_endpoints.create(
            url=url,
            description="",
            events=["security.alert"],
            actor=Actor.system("t"),
            ip=None,
            now=clock.now(),
        )

    assert refused.value.reason == "webhook_url_private"
    assert "only go to public addresses" in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hooks",
        "javascript:alert(1)",
        "http://user:pw@example.com/hooks",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "https://",
        "",
        "http://example.com/\x00",
    ],
)
def test_i11_malformed_webhook_urls_are_refused(make_app, clock, url):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        webhooks.check_url(url)

    assert refused.value.reason in {"webhook_url_invalid", "webhook_url_credentials"}


def test_i10_a_public_address_passes_the_check(make_app):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    with app.app_context():
        assert webhooks.check_url("https://93.184.215.14/hooks") == "https://93.184.215.14/hooks"
        assert webhooks.checked_target("http://[2606:4700::1111]:8443/x").address is not None


def test_i10_ssrf_is_checked_again_at_delivery(make_app, app, httpserver, hook_url, clock):
    answer(httpserver)
    subscribe(app, hook_url, clock.now())  # saved while private addresses were allowed
    with app.app_context():
        audit.record("security.alert", actor=Actor.system("test"), at=clock.now(), details={"kind": "x"})
        db.session.commit()
    strict = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)

    done = work(strict, clock.now())

    assert done.retried == 1
    assert arrivals(httpserver) == []
    [message] = messages(app, "webhook")
    assert "only go to public addresses" in message.last_error


def test_i10_delivery_goes_to_the_address_that_was_checked(make_app, app, receiver, clock, monkeypatch):
    """DNS rebinding: the name is resolved once, checked, and that very address is connected to."""
    receiver.expect_request(HOOK, method="POST").respond_with_data("ok")
    url = f"http://hooks.example.invalid:{receiver.port}{HOOK}"
    resolved = []

    def resolve(hostname, port):
        resolved.append(hostname)
        return [webhooks.ipaddress.ip_address("127.0.0.1")]

    subscribe(app, url, clock.now())
    with app.app_context():
        audit.record("security.alert", actor=Actor.system("test"), at=clock.now(), details={"kind": "x"})
        db.session.commit()
    strict = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    monkeypatch.setattr(webhooks, "_addresses", resolve)
    monkeypatch.setattr(webhooks, "is_public", lambda address: True)  # pretend 127.0.0.1 is public

    assert work(strict, clock.now()).delivered == 1

    assert resolved == ["hooks.example.invalid"]  # once, by the check; the connection used its answer
    [arrival] = arrivals(receiver, HOOK)
    assert arrival.headers["host"] == f"hooks.example.invalid:{receiver.port}"
