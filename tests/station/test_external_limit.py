"""K14: an EMS limits the site from outside OCPP, over the LC's HTTP endpoint (bearer token) or
the Modbus holding register it serves; the balancer's cap follows, the PyPI-`ocpp` CSMS hears
NotifyChargingLimit (past LimitChangeSignificance) and ClearedChargingLimit on release."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v201 import call as call201

from balancer.site_cap import CapSource
from lc.app import LocalController
from lc.config import load_config
from modbus.errors import MeterExceptionReply, MeterReadError
from modbus.link import TcpLink
from modbus.simulator import SimulatedMeter
from modbus.transport import ModbusClient
from tests.peers import wait_until
from tests.station.csms_for_lc import CsmsForLc
from tests.station.garage_for_lc import (
    BASE_LOAD_A,
    CHARGER_MAX_A,
    CONFIG_CAP_A,
    MARGIN_A,
    Stops,
    charging_garage,
    metered_config,
    start_lc,
)
from tests.station.test_site_limit_from_csms import capped_at

pytestmark = pytest.mark.timeout(90)

TOKEN = "ems-secret-token-0123456789"
EMS_LIMIT_A = 20.0
NO_LIMIT = 65535


# The tests' EMS connects from 127.0.0.1.
LOOPBACK_ONLY = ["127.0.0.0/8", "::1"]
ELSEWHERE = ["192.0.2.7", "2001:db8::/32"]  # documentation addresses: never the tests' EMS


def external_limit(allowed_clients: list[str] | None = None, **modbus: Any) -> dict[str, Any]:
    table = {
        "http_token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
        "limit_change_significance_pct": 10,
        "modbus": {"listen_port": 0, "register": 100, "scale": 0.1, **modbus},
    }
    if allowed_clients is not None:
        table["allowed_clients"] = allowed_clients
    return table


def refusals(lc: LocalController) -> list[str]:
    """The tech info of the security log's refused logins, oldest first."""
    events = lc.security.events.log.events
    return [event.tech_info for event in events if event.type == "MaintenanceLoginFailed"]


def notified_limits(csms: CsmsForLc) -> list[float | None]:
    """The limits the CSMS heard of, in order: None for a ClearedChargingLimit."""
    heard: list[float | None] = []
    for action, notice in csms.charging_limits:
        if action == "ClearedChargingLimit":
            assert (notice["charging_limit_source"], notice["evse_id"]) == ("EMS", 0)
            heard.append(None)
            continue
        assert notice["charging_limit"] == {"charging_limit_source": "EMS"}
        assert notice["evse_id"] == 0
        [schedule] = notice["charging_schedule"]
        [period] = schedule["charging_schedule_period"]
        assert (schedule["charging_rate_unit"], period["start_period"]) == ("A", 0)
        heard.append(period["limit"])
    return heard


class Ems:
    """The EMS's side of the HTTP endpoint."""

    def __init__(self, client: aiohttp.ClientSession, lc: LocalController) -> None:
        self._client = client
        self.url = f"http://127.0.0.1:{lc.metrics_port}/api/external-limit"

    async def put(self, body: object, token: str | None = TOKEN) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with self._client.put(self.url, json=body, headers=headers) as response:
            json = response.content_type == "application/json"
            return response.status, await response.json() if json else None

    async def delete(self, token: str = TOKEN) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        async with self._client.delete(self.url, headers=headers) as response:
            return response.status


async def test_an_ems_limit_over_http_caps_the_garage_and_the_csms_hears_of_it(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    sections = {"external_limit": external_limit(LOOPBACK_ONLY)}
    garage = await charging_garage(csms, stack, tmp_path, sections)
    balancer, charge_point, lc = garage.balancer, garage.charge_point, garage.lc
    async with aiohttp.ClientSession() as client:
        ems = Ems(client, lc)
        assert (await ems.put({"limit_a": 10}, token=None))[0] == 401
        assert (await ems.put({"limit_a": 10}, token="guessed"))[0] == 401
        # A wrong token is a failed login the CSMS hears of; the token is in no record.
        assert refusals(lc) == 2 * [
            "{'user': 'ems', 'origin': '127.0.0.1'} external limit over http: no valid bearer token"
        ]
        await wait_until(lambda: len(csms.security_events) >= 3, 10, "the refusals at the CSMS")
        assert not any("guessed" in str(event) for event in csms.security_events)
        for bad in ({"limit_a": -1}, {"limit_a": 10, "limit_w": 10}, {"limit": 3}, [10]):
            status, answer = await ems.put(bad)
            assert status == 400 and answer["error"]
        assert balancer.cap.binding is CapSource.CONFIG  # nothing refused was applied

        status, answer = await ems.put({"limit_a": EMS_LIMIT_A})
        assert (status, answer["limit_a"]) == (200, EMS_LIMIT_A)
        await capped_at(balancer, EMS_LIMIT_A, CapSource.EXTERNAL)
        headroom = EMS_LIMIT_A - MARGIN_A - BASE_LOAD_A
        await wait_until(
            lambda: (charge_point.limit or 0) <= headroom, 20, "the car cut under the EMS's limit"
        )
        await wait_until(lambda: notified_limits(csms) == [EMS_LIMIT_A], 10, "the first notice")

        assert (await ems.put({"limit_a": EMS_LIMIT_A - 1}))[0] == 200  # within 10 %: no notice
        await capped_at(balancer, EMS_LIMIT_A - 1, CapSource.EXTERNAL)
        watts = 15 * 230 * 3  # 15 A per phase at the site's nominal voltage
        assert (await ems.put({"limit_w": watts, "duration_s": 600}))[0] == 200
        await capped_at(balancer, 15.0, CapSource.EXTERNAL)
        await wait_until(lambda: notified_limits(csms) == [EMS_LIMIT_A, 15.0], 10, "a notice")

        async with client.get(f"http://127.0.0.1:{lc.metrics_port}/metrics") as response:
            metrics = await response.text()
        assert 'ocpp_lc_external_limit_amperes{input="http"} 15.0' in metrics
        assert 'ocpp_lc_site_cap_binding{limit="EMS"} 1.0' in metrics
        async with client.get(f"http://127.0.0.1:{lc.metrics_port}/") as response:
            page = await response.text()
        assert "<h2>External limit (EMS)</h2>" in page
        assert "over HTTP: 15.0 A; over Modbus: –. The site cap is 15 / 15 / 15 A" in page
        assert "set by the EMS's external limit" in page

        assert await ems.delete() == 200
        await capped_at(balancer, CONFIG_CAP_A, CapSource.CONFIG)
        await wait_until(
            lambda: notified_limits(csms) == [EMS_LIMIT_A, 15.0, None], 10, "ClearedChargingLimit"
        )
        await wait_until(
            lambda: charge_point.limit == CHARGER_MAX_A, 20, "the car back at its maximum"
        )


async def test_the_csms_sets_the_significance_a_notice_needs(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    config = await metered_config(csms, stack, tmp_path, external_limit=external_limit())
    lc, balancer = await start_lc(config, stack)
    significance = {
        "component": {"name": "SmartChargingCtrlr"},
        "variable": {"name": "LimitChangeSignificance"},
    }
    answer = await csms.station.call(
        call201.SetVariables(set_variable_data=[significance | {"attribute_value": "50"}])
    )
    assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
    async with aiohttp.ClientSession() as client:
        ems = Ems(client, lc)
        assert (await ems.put({"limit_a": 20}))[0] == 200
        await wait_until(lambda: notified_limits(csms) == [20.0], 10, "the first notice")
        assert (await ems.put({"limit_a": 12}))[0] == 200  # 40 %: below the CSMS's 50 %
        await capped_at(balancer, 12.0, CapSource.EXTERNAL)
        assert (await ems.put({"limit_a": 8}))[0] == 200
        await wait_until(lambda: notified_limits(csms) == [20.0, 8.0], 10, "the second notice")


async def test_an_ems_writes_the_modbus_register_and_its_silence_falls_back(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    watched = external_limit(LOOPBACK_ONLY, watchdog_s=3, fallback_limit_a=12)
    del watched["http_token_sha256"]  # no token: no HTTP endpoint
    config = await metered_config(csms, stack, tmp_path, external_limit=watched)
    lc, balancer = await start_lc(config, stack)
    async with aiohttp.ClientSession() as client:
        assert (await Ems(client, lc).put({"limit_a": 10}))[0] == 404
    assert lc.external_limit_modbus_port is not None
    ems = ModbusClient(TcpLink("127.0.0.1", lc.external_limit_modbus_port), timeout_s=1.0)

    async def close_ems() -> None:
        ems.close()

    stack.append(close_ems)

    with pytest.raises(MeterExceptionReply) as refused:
        await ems.write(101, [100], unit_id=1)  # not the limit's register
    assert refused.value.exception_code == 2
    await ems.write(100, [int(EMS_LIMIT_A * 10)], unit_id=1)  # 0.1 A per count
    await capped_at(balancer, EMS_LIMIT_A, CapSource.EXTERNAL)
    assert await ems.read(3, 100, 1, unit_id=1) == [200]
    await wait_until(lambda: notified_limits(csms) == [EMS_LIMIT_A], 10, "the notice")

    # The EMS stops writing: past the watchdog, the fallback applies (and is reported).
    await capped_at(balancer, 12.0, CapSource.EXTERNAL)
    await wait_until(lambda: notified_limits(csms) == [EMS_LIMIT_A, 12.0], 10, "the fallback")

    await ems.write(100, [NO_LIMIT], unit_id=1)
    await capped_at(balancer, CONFIG_CAP_A, CapSource.CONFIG)
    await wait_until(lambda: None in notified_limits(csms), 10, "ClearedChargingLimit")
    # The watchdog watches the EMS whatever it wrote last: silent again, the fallback again.
    await capped_at(balancer, 12.0, CapSource.EXTERNAL)
    await wait_until(
        lambda: notified_limits(csms) == [EMS_LIMIT_A, 12.0, None, 12.0], 10, "the fallback again"
    )


async def test_a_host_outside_the_allowed_clients_can_change_nothing(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    config = await metered_config(csms, stack, tmp_path, external_limit=external_limit(ELSEWHERE))
    lc, balancer = await start_lc(config, stack)
    assert lc.external_limit_modbus_port is not None
    ems = ModbusClient(TcpLink("127.0.0.1", lc.external_limit_modbus_port), timeout_s=1.0)

    async def close_ems() -> None:
        ems.close()

    stack.append(close_ems)

    with pytest.raises(MeterReadError):  # the LC closes the connection before any request
        await ems.write(100, [50], unit_id=1)
    async with aiohttp.ClientSession() as client:
        status, answer = await Ems(client, lc).put({"limit_a": 5})  # the right token, even
        assert (status, answer["error"]) == (403, "this host may not set the limit")
    assert refusals(lc)[:2] == [
        "{'user': 'ems', 'origin': '127.0.0.1'} external limit over modbus: "
        "its address is not in external_limit.allowed_clients",
        "{'user': 'ems', 'origin': '127.0.0.1'} external limit over http: "
        "its address is not in external_limit.allowed_clients",
    ]
    external = lc.external_limits
    assert external is not None
    assert external.limit.limit_a(0.0) is None  # nothing was applied
    assert balancer.cap.binding is CapSource.CONFIG

    # Past the security log's burst, a host hammering the register floods nothing.
    for _ in range(15):
        with pytest.raises(MeterReadError):
            await ems.write(100, [50], unit_id=1)
    assert len(refusals(lc)) == 10
    assert lc.security.events.log.suppressed["MaintenanceLoginFailed"] == 7


def _register_toml(meter_port: int, allowed_clients: list[str]) -> str:
    """A site whose EMS writes the register (no station: the reload is the LC's own)."""
    return f"""
[router]
upstream_url = "ws://127.0.0.1:9"
listen_host = "127.0.0.1"
listen_port = 0
[metrics]
listen_port = 0
[site]
phase_cap_a = {CONFIG_CAP_A}
[meter]
host = "127.0.0.1"
port = {meter_port}
map = "eastron_sdm630"
[external_limit]
allowed_clients = {json.dumps(allowed_clients)}
[external_limit.modbus]
listen_port = 0
register = 100
"""


async def test_a_reloaded_allow_list_applies_at_once(stack: Stops, tmp_path: Path) -> None:
    meter = SimulatedMeter("eastron_sdm630")
    await meter.start()
    stack.append(meter.stop)
    config_path = tmp_path / "site.toml"
    config_path.write_text(_register_toml(meter.link.port, ELSEWHERE))
    lc = LocalController(load_config(config_path), config_path)
    await lc.start()
    stack.append(lc.stop)
    assert lc.external_limit_modbus_port is not None and lc.balancer is not None
    ems = ModbusClient(TcpLink("127.0.0.1", lc.external_limit_modbus_port), timeout_s=1.0)

    async def close_ems() -> None:
        ems.close()

    stack.append(close_ems)
    with pytest.raises(MeterReadError):
        await ems.write(100, [int(EMS_LIMIT_A * 10)], unit_id=1)

    # The site manager adds the EMS's address and reloads (SIGHUP): no restart needed.
    config_path.write_text(_register_toml(meter.link.port, ["127.0.0.1"]))
    await lc.reload()
    await ems.write(100, [int(EMS_LIMIT_A * 10)], unit_id=1)
    await capped_at(lc.balancer, EMS_LIMIT_A, CapSource.EXTERNAL)
    changes = [
        event.tech_info
        for event in lc.security.events.log.events
        if event.type == "ReconfigurationOfSecurityParameters"
    ]
    assert changes == ["external_limit.allowed_clients changed on reload"]

    # And shut out again: its open connection too.
    config_path.write_text(_register_toml(meter.link.port, ELSEWHERE))
    await lc.reload()
    with pytest.raises(MeterReadError):
        await ems.write(100, [NO_LIMIT], unit_id=1)
    assert lc.balancer.cap.binding is CapSource.EXTERNAL  # the EMS's limit stands
