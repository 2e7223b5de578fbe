"""PublishFirmware over the LC's own link, end to end: the PyPI-ocpp CSMS publishes a file
from a server on 127.0.0.1, hears every status, and a charger downloads the file from the LC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call as call201

from firmware.publication import FINAL
from lc.app import LocalController
from lc.station_firmware import NOTICE_ATTEMPTS
from station.session import LinkState
from tests.conftest import lc_url
from tests.firmware.origin import FIRMWARE, MD5, origin_server
from tests.peers import connect_charge_point, now_iso, wait_until
from tests.station.csms_for_lc import IDENTITY, CsmsForLc, accepted_lc, station_config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def lc(csms: CsmsForLc, tmp_path: Path) -> AsyncIterator[LocalController]:
    """A started LC with [firmware], Accepted at `csms`."""
    config = station_config(csms, tmp_path)
    firmware = tmp_path / "firmware"
    config["firmware"] = {"folder": str(firmware), "listen_host": "127.0.0.1", "listen_port": 0}
    async with accepted_lc(config) as (controller, _link):
        yield controller


@pytest.fixture
def firmware_file(tmp_path: Path) -> Path:
    """The firmware as the CSMS's file server holds it."""
    file = tmp_path / "fw.bin"
    file.write_bytes(FIRMWARE)
    return file


def _statuses(csms: CsmsForLc, request_id: int) -> list[str]:
    return [n["status"] for n in csms.firmware_notices if n.get("request_id") == request_id]


async def _publish(csms: CsmsForLc, location: str, checksum: str, request_id: int) -> None:
    request = call201.PublishFirmware(location=location, checksum=checksum, request_id=request_id)
    answer = await csms.connected(IDENTITY).call(request)
    assert answer.status == "Accepted"
    await wait_until(
        lambda: any(s in FINAL for s in _statuses(csms, request_id)), 30, "the final status"
    )


async def _trigger(csms: CsmsForLc) -> dict[str, Any]:
    heard = len(csms.firmware_notices)
    request = call201.TriggerMessage(requested_message="PublishFirmwareStatusNotification")
    answer = await csms.connected(IDENTITY).call(request)
    assert answer.status == "Accepted"
    await wait_until(lambda: len(csms.firmware_notices) > heard, 10, "the triggered status")
    return csms.firmware_notices[-1]


async def test_the_csms_publishes_firmware_a_charger_downloads_from_the_lc(
    csms: CsmsForLc, lc: LocalController, firmware_file: Path
) -> None:
    assert (await _trigger(csms))["status"] == "Idle"  # nothing published yet (L03.FR.11)
    async with origin_server(firmware_file) as origin:
        await _publish(csms, f"{origin.base_url}/fw.bin", MD5, 7)
    assert _statuses(csms, 7) == ["Downloading", "Downloaded", "ChecksumVerified", "Published"]
    [uri] = csms.firmware_notices[-1]["location"]
    charger = await connect_charge_point(lc_url(lc.router), "CP-1", "ocpp2.0.1")
    try:
        assert (await charger.cp.boot()).status == "Accepted"
        update = call201.UpdateFirmware(
            request_id=3, firmware={"location": uri, "retrieveDateTime": now_iso()}
        )
        assert (await csms.connected("CP-1").call(update)).status == "Accepted"
        await charger.cp.transfers.finished()
        assert charger.cp.firmware == [FIRMWARE]  # the bytes the LC served
        statuses = csms.connected("CP-1").firmware_statuses
        await wait_until(lambda: statuses[-1:] == ["Installed"], 10, "Installed")
    finally:
        await charger.close()
    assert (await _trigger(csms))["status"] == "Idle"  # published: Idle (L03.FR.10)
    answer = await csms.connected(IDENTITY).call(call201.UnpublishFirmware(checksum=MD5))
    assert answer.status == "Unpublished"


async def test_a_wrong_checksum_reaches_the_csms_as_invalid_checksum(
    csms: CsmsForLc, lc: LocalController, firmware_file: Path
) -> None:
    async with origin_server(firmware_file) as origin:
        await _publish(csms, f"{origin.base_url}/fw.bin", "0" * 32, 8)
    assert _statuses(csms, 8) == ["Downloading", "Downloaded", "InvalidChecksum"]
    triggered = await _trigger(csms)
    assert (triggered["status"], triggered["request_id"]) == ("InvalidChecksum", 8)


async def test_statuses_wait_while_the_link_is_down_and_go_in_order_when_it_is_back(
    csms: CsmsForLc, lc: LocalController, firmware_file: Path
) -> None:
    async with origin_server(firmware_file) as origin:
        request = call201.PublishFirmware(
            location=f"{origin.base_url}/broken.bin",
            checksum=MD5,
            request_id=9,
            retries=1,
            retry_interval=0,
        )
        assert (await csms.connected(IDENTITY).call(request)).status == "Accepted"
        await wait_until(lambda: _statuses(csms, 9) == ["Downloading"], 10, "Downloading")
        # One call is outstanding at a time: the triggered Heartbeat goes once Downloading is
        # answered (one in flight when the link drops is sent again).
        heartbeat = call201.TriggerMessage(requested_message="Heartbeat")
        assert (await csms.connected(IDENTITY).call(heartbeat)).status == "Accepted"
        await wait_until(lambda: "Heartbeat" in csms.calls(), 10, "the triggered Heartbeat")
        await csms.stop()
        link = lc.station
        assert link is not None
        await wait_until(lambda: link.session.state is LinkState.DISCONNECTED, 10, "link lost")
        origin.drop_link.set()  # the download breaks off and resumes while the link is down
        await wait_until(lambda: len(origin.ranges) == 2, 20, "the resumed download")
        await csms.start()
        await wait_until(lambda: any(s in FINAL for s in _statuses(csms, 9)), 30, "the rest")
    assert _statuses(csms, 9) == ["Downloading", "Downloaded", "ChecksumVerified", "Published"]
    assert len(csms.connections) == 2


async def test_a_status_the_csms_keeps_refusing_is_dropped_and_the_next_ones_go(
    csms: CsmsForLc, lc: LocalController
) -> None:
    csms.refuse_firmware_notices = True
    await _trigger(csms)
    await wait_until(lambda: len(csms.firmware_notices) == NOTICE_ATTEMPTS, 10, "every try")
    csms.refuse_firmware_notices = False
    assert (await _trigger(csms))["status"] == "Idle"
    assert len(csms.firmware_notices) == NOTICE_ATTEMPTS + 1
