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
        ({"allowed_clients": "10.0.0.5"}, r"external_limit.allowed_clients: expected a non-empty"),
        ({"allowed_clients": []}, r"external_limit.allowed_clients: expected a non-empty"),
        ({"allowed_clients": ["ems.local"]}, r"external_limit.allowed_clients\[0\]: 'ems.local'"),
        ({"allowed_clients": ["::1", 5]}, r"external_limit.allowed_clients\[1\]: expected a str"),
        # Host bits set: a typo for 10.0.0.0/24 or for the one host? Neither is guessed.
        ({"allowed_clients": ["10.0.0.5/24"]}, r"allowed_clients\[0\]: .* has host bits set"),
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


def with_external_limit(**external: object) -> dict[str, object]:
    return router_only(**external) | {
        "site": {"phase_cap_a": [32, 32, 32]},
        "meter": {"host": "127.0.0.1", "map": "abb_b23"},
    }


def test_inputs_open_to_the_network_need_an_allow_list() -> None:
    token = {"http_token_sha256": "0" * 64}
    modbus = {"modbus": {"listen_host": "0.0.0.0"}}
    metrics = {"metrics": {"listen_host": "192.168.1.10"}}
    with pytest.raises(ConfigError) as refused:
        parse_config(with_external_limit(**token, **modbus) | metrics)
    assert str(refused.value) == (
        "external_limit.allowed_clients: required, the EMS's addresses: metrics.listen_host "
        "'192.168.1.10' and external_limit.modbus.listen_host '0.0.0.0' is reachable from the "
        "network, where any host could otherwise set or release the site's external limit "
        "(or listen on 127.0.0.1)"
    )
    for exposed in (with_external_limit(**modbus), with_external_limit(**token) | metrics):
        with pytest.raises(ConfigError, match=r"^external_limit\.allowed_clients: required"):
            parse_config(exposed)
    allowed = {"allowed_clients": ["192.168.1.20", "fd00::/8"]}
    listed = parse_config(with_external_limit(**token, **modbus, **allowed) | metrics)
    assert listed.external_limit is not None
    clients = listed.external_limit.allowed_clients
    assert clients is not None
    hosts = ("192.168.1.20", "::ffff:192.168.1.20", "fd00::1%eth0", "192.168.1.21", "")
    assert [clients.admits(host) for host in hosts] == [True, True, True, False, False]
    # Loopback only: no list needed, any local client is let in.
    local = parse_config(with_external_limit(**token, modbus={"listen_host": "::1"}))
    assert local.external_limit is not None and local.external_limit.allowed_clients is None
