"""An EMS's limit, pure: the lower input applies, an expiry ends it, the Modbus watchdog falls
back when the EMS is silent; the site cap says which limit binds."""

from __future__ import annotations

import pytest

from balancer.external_limit import ExternalInput, ExternalLimit, Watchdog
from balancer.site_cap import CapSource, site_cap
from config_file.table import ConfigError
from lc.config import parse_config

HTTP, MODBUS = ExternalInput.HTTP, ExternalInput.MODBUS


def test_the_lower_input_applies_until_it_expires_or_is_released() -> None:
    limit = ExternalLimit()
    assert limit.limit_a(0) is None
    limit.set(HTTP, 20.0, 0, expires_at=60)
    limit.set(MODBUS, 25.0, 0)
    assert limit.limit_a(10) == 20.0
    assert limit.next_change(10) == 60
    assert limit.limit_a(60) == 25.0
    limit.set(MODBUS, None, 61)  # "no limit" written
    assert limit.limit_a(61) is None
    limit.set(HTTP, 10.0, 62)
    limit.release(HTTP)
    assert limit.limit_a(62) is None


def test_a_silent_ems_falls_back_after_the_watchdog() -> None:
    limit = ExternalLimit(Watchdog(timeout_s=30, fallback_a=12.0))
    assert limit.next_change(0) is None  # armed by the first write only
    limit.set(MODBUS, 20.0, 100)
    assert limit.next_change(100) == 130
    assert limit.limit_a(130) == 20.0
    assert limit.limit_a(131) == 12.0
    released = ExternalLimit(Watchdog(timeout_s=30, fallback_a=None))
    released.set(MODBUS, 20.0, 100)
    assert released.limit_a(131) is None


def test_the_lowest_limit_binds_the_cap() -> None:
    config = (32.0, 32.0, 25.0)
    assert site_cap(config, 28.0, 30.0).binding is CapSource.CSMS
    external = site_cap(config, 28.0, 20.0)
    assert (external.phase_cap_a, external.binding) == ((20.0,) * 3, CapSource.EXTERNAL)
    assert site_cap(config, None, 40.0) == site_cap(config, None, None)
    assert site_cap(config, None, 26.0).phase_cap_a == (26.0, 26.0, 25.0)


def router_only(**external: object) -> dict[str, object]:
    return {"router": {"upstream_url": "ws://csms.example.net"}, "external_limit": external}


@pytest.mark.parametrize(
    ("external", "key"),
    [
        ({"http_token_sha256": "secret"}, "external_limit.http_token_sha256"),
        ({"modbus": {"unit": "kW"}}, "external_limit.modbus.unit"),
        ({"modbus": {"scale": 0}}, "external_limit.modbus.scale"),
    ],
)
def test_a_bad_key_is_named(external: dict[str, object], key: str) -> None:
    config = router_only(**external) | {
        "site": {"phase_cap_a": [32, 32, 32]},
        "meter": {"host": "127.0.0.1", "map": "abb_b23"},
    }
    with pytest.raises(ConfigError, match=key):
        parse_config(config)


def test_an_external_limit_needs_a_balancer() -> None:
    with pytest.raises(ConfigError, match=r"needs a \[site\]"):
        parse_config(router_only())
