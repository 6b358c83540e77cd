"""The request rate settings (issue 12 item 4): a readable format, checked when the app starts."""

from __future__ import annotations

import pytest

from config import RATE_LIMIT_SETTINGS, ConfigError, DevelopmentConfig, rate_limit_tiers


def development(**overrides) -> type[DevelopmentConfig]:
    return type("Development", (DevelopmentConfig,), overrides)


def test_the_defaults_pass_their_check_and_every_limit_is_on():
    config = development()
    config.check()
    for name in RATE_LIMIT_SETTINGS:
        assert rate_limit_tiers(name, getattr(config, name)), name


@pytest.mark.parametrize(
    ("text", "tiers"),
    [
        ("60/minute", ((60, 60),)),
        ("60/minute;600/hour", ((60, 60), (600, 3600))),
        (" 10 per 5 minutes ; 100/day ", ((10, 300), (100, 86400))),
        ("3/Second", ((3, 1),)),
        ("off", ()),
        ("OFF", ()),
    ],
)
def test_rates_read_as_requests_per_window(text, tiers):
    assert rate_limit_tiers("SEARCH_RATE_LIMIT", text) == tiers


@pytest.mark.parametrize(
    "text",
    ["60", "60/fortnight", "0/minute", "10/0minutes", "-1/minute", "60/minute;", "1/minute;2/60seconds"],
)
def test_a_malformed_rate_stops_the_start_and_names_its_setting(text):
    with pytest.raises(ConfigError, match="REDEEM_RATE_LIMIT"):
        development(REDEEM_RATE_LIMIT=text).check()
