"""SetNetworkProfile and NetworkConfigurationPriority on the LC's own link (2.0.1 B09/B10),
with two PyPI-`ocpp` CSMSs on 127.0.0.1: the LC migrates from one to the other, a profile it
cannot connect with falls back to the one before, bad profiles are rejected."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call as call201

from lc.app import LocalController
from lc.config import parse_config
from lc.status_page import render
from station.link import StationLink
from station.network_profiles import network_profiles_path
from station.session import LinkState
from tests.peers import running, wait_until
from tests.station.csms_for_lc import IDENTITY, CsmsForLc, station_config

pytestmark = pytest.mark.timeout(60)


def _connection_data(url: str, **more: Any) -> dict[str, Any]:
    return {
        "ocpp_version": "OCPP20",
        "ocpp_transport": "JSON",
        "ocpp_csms_url": url,
        "message_timeout": 30,
        "security_profile": 1,
        "ocpp_interface": "Wired0",
    } | more


async def _set_profile(csms: CsmsForLc, slot: int, data: dict[str, Any]) -> Any:
    request = call201.SetNetworkProfile(configuration_slot=slot, connection_data=data)
    return await csms.station.call(request)


async def _set_comm(csms: CsmsForLc, variable: str, value: str) -> str:
    item = {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": variable},
        "attribute_value": value,
    }
    answer = await csms.station.call(call201.SetVariables(set_variable_data=[item]))
    status: str = answer.set_variable_result[0]["attribute_status"]
    return status


async def _get_comm(csms: CsmsForLc, variable: str) -> str:
    item = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": variable}}
    answer = await csms.station.call(call201.GetVariables(get_variable_data=[item]))
    value: str = answer.get_variable_result[0]["attribute_value"]
    return value


class Lcs:
    """Start LCs from configs; every one started is stopped at the end."""

    def __init__(self) -> None:
        self.started: list[LocalController] = []

    async def start(self, config: dict[str, Any]) -> tuple[LocalController, StationLink]:
        lc = LocalController(parse_config(config))
        self.started.append(lc)
        await lc.start()
        assert lc.station is not None
        return lc, lc.station

    async def stop(self, lc: LocalController) -> None:
        self.started.remove(lc)
        await lc.stop()


@pytest.fixture
async def lcs() -> AsyncIterator[Lcs]:
    started = Lcs()
    yield started
    for lc in started.started:
        await lc.stop()


@pytest.fixture
async def other_csms() -> AsyncIterator[CsmsForLc]:
    async with running(CsmsForLc()) as server:
        yield server


def _accepted(link: StationLink) -> bool:
    return link.session.state is LinkState.ACCEPTED


async def test_the_lc_migrates_to_the_profile_the_csms_sets_and_stays_after_a_restart(
    csms: CsmsForLc, other_csms: CsmsForLc, lcs: Lcs, tmp_path: Path
) -> None:
    config = station_config(csms, tmp_path)
    lc, link = await lcs.start(config)
    await wait_until(lambda: _accepted(link), 10, "Accepted by the first CSMS")
    assert await _get_comm(csms, "ActiveNetworkProfile") == "1"

    new = _connection_data(f"ws://127.0.0.1:{other_csms.port}/ocpp")
    assert (await _set_profile(csms, 2, new)).status == "Accepted"
    kept = network_profiles_path(tmp_path / "station-state.json")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert link.slot_in_use == 1  # stored, not used yet
    assert await _set_comm(csms, "NetworkConfigurationPriority", "2,1") == "Accepted"

    # B10.FR.06/10: away from the first CSMS, then a new registration at the second.
    await wait_until(lambda: other_csms.stations and _accepted(link), 20, "at the second CSMS")
    assert other_csms.station.identity == IDENTITY
    assert other_csms.calls()[0] == "BootNotification"
    assert link.slot_in_use == 2
    assert await _get_comm(other_csms, "ActiveNetworkProfile") == "2"
    assert await _get_comm(other_csms, "NetworkConfigurationPriority") == "2,1"
    page = render(await lc.status())
    assert f"Over network profile slot 2 (ws://127.0.0.1:{other_csms.port}/ocpp/{IDENTITY})" in page

    # B10.FR.04: after a restart the LC begins with the first slot of the priority.
    await lcs.stop(lc)
    dialled_first = len(csms.connections)
    _restarted, link = await lcs.start(config)
    await wait_until(lambda: len(other_csms.connections) == 2, 20, "the second CSMS again")
    await wait_until(lambda: _accepted(link), 10, "Accepted")
    assert link.slot_in_use == 2 and len(csms.connections) == dialled_first


async def test_a_profile_that_cannot_connect_falls_back_to_the_one_before(
    csms: CsmsForLc, lcs: Lcs, tmp_path: Path
) -> None:
    # A server that answers every WebSocket handshake 503: no CSMS to be had there.
    dials: list[bytes] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dials.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    nowhere = await asyncio.start_server(refuse, "127.0.0.1", 0)
    try:
        port = nowhere.sockets[0].getsockname()[1]
        lc, link = await lcs.start(station_config(csms, tmp_path))
        await wait_until(lambda: _accepted(link), 10, "Accepted")
        assert await _set_comm(csms, "NetworkProfileConnectionAttempts", "2") == "Accepted"
        assert (await _set_profile(csms, 3, _connection_data(f"ws://127.0.0.1:{port}"))).status == (
            "Accepted"
        )
        assert await _set_comm(csms, "NetworkConfigurationPriority", "3,1") == "Accepted"

        await wait_until(lambda: len(csms.connections) == 2, 20, "back at the first CSMS")
        await wait_until(lambda: link.slot_in_use == 1, 10, "over slot 1")
        # NetworkProfileConnectionAttempts at the new slot, then the next one.
        assert [dial.split(b" ")[1] for dial in dials] == [f"/{IDENTITY}".encode()] * 2
        assert await _get_comm(csms, "ActiveNetworkProfile") == "1"
        assert "Over network profile slot 1" in render(await lc.status())
    finally:
        nowhere.close()
        await nowhere.wait_closed()


@pytest.mark.parametrize(
    ("slot", "data", "reason"),
    [
        (9, {}, "InvalidConfSlot"),
        (1, {}, "InvalidConfSlot"),  # the config file's slot
        (2, {"ocpp_version": "OCPP16"}, "InvalidNetworkConf"),
        (2, {"ocpp_csms_url": "http://127.0.0.1:9/ocpp"}, "InvalidNetworkConf"),
        (2, {"ocpp_csms_url": "ws://user:secret@127.0.0.1:9/ocpp"}, "InvalidNetworkConf"),
        (2, {"ocpp_csms_url": "wss://127.0.0.1:9/ocpp"}, "InvalidNetworkConf"),  # profile 1
        (2, {"security_profile": 0}, "InvalidNetworkConf"),
        (2, {"security_profile": 3, "ocpp_csms_url": "wss://h/ocpp"}, "InvalidNetworkConf"),
    ],
)
async def test_an_invalid_profile_is_rejected_and_not_stored(
    csms: CsmsForLc, lcs: Lcs, tmp_path: Path, slot: int, data: dict[str, Any], reason: str
) -> None:
    _lc, link = await lcs.start(station_config(csms, tmp_path))
    await wait_until(lambda: _accepted(link), 10, "Accepted")
    answer = await _set_profile(csms, slot, _connection_data("ws://127.0.0.1:9/ocpp") | data)
    assert answer.status == "Rejected"
    assert answer.status_info["reason_code"] == reason
    assert link.network.stored == {1}
    # B10.FR.02: a priority naming a slot without a profile is rejected too.
    assert await _set_comm(csms, "NetworkConfigurationPriority", "2,1") == "Rejected"
    assert await _get_comm(csms, "NetworkConfigurationPriority") == "1"
