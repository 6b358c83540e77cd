"""The staff lockout settings (issue 11 item 10): one address can never lock an account from
everywhere, whatever the environment says."""

from __future__ import annotations

import pytest

from config import ConfigError, DevelopmentConfig


def development(**overrides) -> type[DevelopmentConfig]:
    return type("Development", (DevelopmentConfig,), overrides)


def test_the_defaults_pass_their_check():
    config = development()
    config.check()
    assert (config.ACCOUNT_LOCK_FAILURES, config.ACCOUNT_LOCK_ADDRESSES, config.SECURITY_CONTACT) == (
        20,
        3,
        None,
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"ACCOUNT_LOCK_ADDRESSES": 1},  # one address would lock the account out: the old denial of service
        {"ACCOUNT_LOCK_ADDRESSES": 0},
        {"ACCOUNT_LOCK_ADDRESSES": 5, "ACCOUNT_LOCK_FAILURES": 4},  # a lock that could never happen
    ],
)
def test_i6_an_account_lock_that_one_address_could_set_off_is_refused(overrides):
    with pytest.raises(ConfigError, match="ACCOUNT_LOCK_ADDRESSES"):
        development(**overrides).check()


@pytest.mark.parametrize("contact", ["security@corp.example\nBcc: everyone@corp.example", "x" * 201])
def test_security_contact_is_one_short_line(contact):
    with pytest.raises(ConfigError, match="SECURITY_CONTACT"):
        development(SECURITY_CONTACT=contact).check()


def test_security_contact_may_be_an_address_or_a_url():
    development(SECURITY_CONTACT="https://wiki.corp.example/security").check()
