"""The LC's own identity at a CSMS built on the PyPI `ocpp` package, over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call as call201

from lc.app import LocalController
from lc.config import parse_config
from lc.status_page import render
from station.link import StationLink
from station.session import LinkState
from tests.peers import wait_until
from tests.station.csms_for_lc import IDENTITY, CsmsForLc, station_config


@pytest.fixture
async def make_lc() -> AsyncIterator[Any]:
    """`await make_lc(config)`: a started LC's station link; `make_lc.started` the LCs."""
    started: list[LocalController] = []

    async def start(config: dict[str, Any]) -> StationLink:
        lc = LocalController(parse_config(config))
        await lc.start()
        started.append(lc)
        assert lc.station is not None
        return lc.station

    start.started = started  # type: ignore[attr-defined]
    yield start
    for lc in started:
        await lc.stop()


def lc_frames(csms: CsmsForLc) -> list[list[Any]]:
    return [json.loads(text) for c in csms.connections for text in c.received]


async def test_boot_pending_then_accepted_with_heartbeats(
    csms: CsmsForLc, make_lc: Any, tmp_path: Path
) -> None:
    csms.boot_answers = [("Pending", 1), ("Accepted", 1)]
    station = await make_lc(station_config(csms, tmp_path))
    await wait_until(lambda: station.session.state is LinkState.PENDING, 10, "Pending")
    # Pending: the LC answers the CSMS's calls; what the CSMS triggers is sent, nothing else.
    answer = await csms.station.call(call201.TriggerMessage(requested_message="Heartbeat"))
    assert answer.status == "Accepted"
    await wait_until(lambda: "Heartbeat" in csms.calls(), 10, "the triggered Heartbeat")
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")
    await wait_until(lambda: csms.calls().count("Heartbeat") >= 3, 15, "heartbeats")
    calls = csms.calls()
    assert calls[:3] == ["BootNotification", "Heartbeat", "BootNotification"]
    assert set(calls[3:]) == {"Heartbeat"}
    boot = lc_frames(csms)[0][3]
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"]["serialNumber"] == "SN-0001"
    assert boot["chargingStation"]["firmwareVersion"] == "0.1.0"


async def test_rejected_boot_is_retried_after_the_interval_and_calls_refused(
    csms: CsmsForLc, make_lc: Any, tmp_path: Path
) -> None:
    csms.boot_answers = [("Rejected", 1), ("Accepted", 300)]
    station = await make_lc(station_config(csms, tmp_path))
    await wait_until(lambda: station.session.state is LinkState.REJECTED, 10, "Rejected")
    with pytest.raises(Exception) as refused:
        await csms.station.call(
            call201.TriggerMessage(requested_message="Heartbeat"), suppress=False
        )
    assert type(refused.value).__name__ == "SecurityError"
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")
    assert csms.calls() == ["BootNotification", "BootNotification"]


async def test_registered_handler_answers_and_calls_the_csms_itself(
    csms: CsmsForLc, make_lc: Any, tmp_path: Path
) -> None:
    station = await make_lc(station_config(csms, tmp_path))
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")

    async def data_transfer(payload: dict[str, Any]) -> dict[str, Any]:
        # A handler sends the LC's own call through the station and uses the answer.
        answer = await station.call("DataTransfer", {"vendorId": payload["vendorId"] + "-back"})
        return {"status": "Accepted", "data": answer["data"]}

    station.register("DataTransfer", data_transfer)
    result = await csms.station.call(call201.DataTransfer(vendor_id="org.example"))
    assert result.status == "Accepted"
    assert result.data == "csms saw org.example-back"
    # An action the LC registered no handler for is known to OCPP: NotSupported.
    with pytest.raises(NotSupportedError):
        await csms.station.call(call201.GetLocalListVersion(), suppress=False)


async def test_trigger_message_answers_per_the_spec_once_accepted(
    csms: CsmsForLc, make_lc: Any, tmp_path: Path
) -> None:
    station = await make_lc(station_config(csms, tmp_path))
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")
    expected = {
        "BootNotification": "Rejected",  # F06.FR.17: already Accepted
        "LogStatusNotification": "Accepted",
        "Heartbeat": "Accepted",
        "StatusNotification": "Rejected",  # the LC has no EVSE of its own to report
        "FirmwareStatusNotification": "NotImplemented",
    }
    for requested, status in expected.items():
        answer = await csms.station.call(call201.TriggerMessage(requested_message=requested))
        assert (requested, answer.status) == (requested, status)
    await wait_until(lambda: csms.calls().count("Heartbeat") == 1, 10, "the triggered Heartbeat")
    calls = csms.calls()
    assert calls == ["BootNotification", "LogStatusNotification", "Heartbeat"]
    log_status = next(f for f in lc_frames(csms) if f[0] == 2 and f[2] == "LogStatusNotification")
    assert log_status[3] == {"status": "Idle"}


async def test_reconnect_after_csms_restart_without_a_second_boot(
    csms: CsmsForLc, make_lc: Any, tmp_path: Path
) -> None:
    station = await make_lc(station_config(csms, tmp_path))
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")
    await csms.stop()
    await wait_until(lambda: station.session.state is LinkState.DISCONNECTED, 10, "link lost")
    await csms.start()
    await wait_until(lambda: len(csms.connections) == 2, 15, "the LC dialling again")
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")
    # B01: a BootNotification after start, not after a reconnect; the link is usable at once.
    answer = await csms.station.call(call201.TriggerMessage(requested_message="Heartbeat"))
    assert answer.status == "Accepted"
    await wait_until(lambda: "Heartbeat" in csms.calls(), 10, "the triggered Heartbeat")
    assert csms.calls() == ["BootNotification", "Heartbeat"]
    assert station.reconnects == 1
    (lc,) = make_lc.started
    page = render(await lc.status())
    assert f"As <b>{IDENTITY}</b>: Accepted by the CSMS." in page
    assert "The link was lost once since the start." in page


async def test_clock_jump_at_the_csms_is_reported(
    csms: CsmsForLc, make_lc: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    csms.boot_answers = [("Accepted", 1)]
    station = await make_lc(station_config(csms, tmp_path, clock_report_threshold_s=20))
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")
    assert abs(station.session.clock_offset_s) < 20
    csms.clock_offset_s = 3600
    await wait_until(lambda: station.session.clock_offset_s > 3000, 15, "the next Heartbeat")
    assert "the CSMS's clock is +3600 s" in caplog.text


async def test_a_lost_link_is_redialled_after_the_back_off(
    csms: CsmsForLc, make_lc: Any, tmp_path: Path
) -> None:
    config = station_config(csms, tmp_path, reconnect_wait_minimum_s=3600)
    station = await make_lc(config)
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")
    lost_at = time.time()
    await csms.connections[-1].ws.close()  # the CSMS drops the LC and is there to redial
    await wait_until(lambda: station.redial_at is not None, 10, "the wait before redialling")
    assert station.redial_at is not None and station.redial_at >= lost_at + 3600
    assert len(csms.connections) == 1
