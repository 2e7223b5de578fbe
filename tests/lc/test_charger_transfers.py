"""Every charger's firmware update and log upload, seen as it passes through the LC: PyPI-`ocpp`
chargers (1.6 and 2.0.1) told by a PyPI-`ocpp` CSMS to update their firmware from a file
server on 127.0.0.1 and to upload their diagnostics or log. The frames arrive byte for byte,
the status page says where each one stands and the metrics count how they ended."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from lc.app import LocalController
from tests.conftest import lc_site_config
from tests.peers import Csms, RunningChargePoint, connect_charge_point, wait_until

pytestmark = pytest.mark.timeout(60)

FIRMWARE = bytes(range(256)) * 64  # 16 KiB that no text encoding would leave unchanged


@pytest.fixture
async def file_server() -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 with the firmware at /fw.bin; its base URL."""
    app = web.Application()

    async def firmware(_request: web.Request) -> web.Response:
        return web.Response(body=FIRMWARE)

    app.router.add_get("/fw.bin", firmware)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def lc(csms: Csms, tmp_path: Path) -> AsyncIterator[LocalController]:
    config = lc_site_config(csms.url, tmp_path)
    controller = LocalController(config)
    await controller.start()
    yield controller
    await controller.stop()


async def _get(lc: LocalController, path: str) -> str:
    url = f"http://127.0.0.1:{lc.metrics_port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.text()


def _row(page: str, identity: str, what: str) -> str:
    rows: list[str] = re.findall(rf"<tr><td>{identity}</td><td>{what}</td>.*?</tr>", page)
    assert len(rows) == 1, page
    return rows[0]


async def _connect(lc: LocalController, identity: str, version: str) -> RunningChargePoint:
    charger = await connect_charge_point(f"ws://127.0.0.1:{lc.router.port}", identity, version)
    await charger.cp.boot()
    return charger


async def test_firmware_updates_of_both_versions_are_relayed_shown_and_counted(
    csms: Csms, lc: LocalController, file_server: str
) -> None:
    location = f"{file_server}/fw.bin"
    charger16 = await _connect(lc, "CP-F16", "ocpp1.6")
    charger201 = await _connect(lc, "CP-F201", "ocpp2.0.1")
    try:
        await csms.update_firmware("CP-F16", location)
        await csms.update_firmware("CP-F201", location, request_id=7)
        for charger in (charger16, charger201):
            await charger.cp.transfers.finished()
            assert charger.cp.firmware == [FIRMWARE]
        await wait_until(
            lambda: all(
                lc.site_view.chargers[i].transfers["firmware"].outcome == "installed"
                for i in ("CP-F16", "CP-F201")
            ),
            timeout_s=15,
            what="both updates installed",
        )
        # Byte for byte both ways: every frame each side sent is what the other received.
        for identity, charger in (("CP-F16", charger16), ("CP-F201", charger201)):
            assert charger.recorder.sent == csms.connections[identity].received
            assert csms.connections[identity].sent == charger.recorder.received
        assert 'status":"Installed"' in csms.connections["CP-F201"].received[-1]

        page = await _get(lc, "/")
        assert "Firmware updates and log uploads" in page
        for identity in ("CP-F16", "CP-F201"):
            row = _row(page, identity, "firmware update")
            assert f"<td>{location}</td><td>installed</td>" in row
            assert row.endswith("<td>installed</td></tr>")
        metrics = await _get(lc, "/metrics")
        assert 'ocpp_lc_charger_transfers_total{kind="firmware",outcome="installed"} 2.0' in metrics
    finally:
        await charger16.close()
        await charger201.close()


async def test_log_uploads_in_progress_failed_and_refused(csms: Csms, lc: LocalController) -> None:
    charger16 = await _connect(lc, "CP-L16", "ocpp1.6")
    charger201 = await _connect(lc, "CP-L201", "ocpp2.0.1")
    try:
        # A password in the upload URL never reaches the status page.
        location = "ftp://user:s3cret@127.0.0.1:2121/logs/"
        charger16.cp.log_upload_status = "UploadFailed"
        await csms.stations["CP-L16"].call(call16.GetDiagnostics(location=location))
        await charger16.cp.transfers.finished()
        charger201.cp.log_upload_status = "Uploading"  # still at it
        await csms.stations["CP-L201"].call(
            call201.GetLog(
                log={"remoteLocation": location}, log_type="DiagnosticsLog", request_id=3
            )
        )
        await charger201.cp.transfers.finished()
        await wait_until(
            lambda: (
                lc.site_view.chargers["CP-L16"].transfers["log"].outcome == "upload_failed"
                and lc.site_view.chargers["CP-L201"].transfers["log"].state == "Uploading"
            ),
            timeout_s=15,
            what="both log uploads reported",
        )
        page = await _get(lc, "/")
        assert "s3cret" not in page and "user@" not in page
        failed = _row(page, "CP-L16", "log upload")
        assert "<td>ftp://127.0.0.1:2121/logs/</td><td>UploadFailed</td>" in failed
        assert failed.endswith('<td><span class="warn">upload failed</span></td></tr>')
        uploading = _row(page, "CP-L201", "log upload")
        assert re.search(
            r"<td>uploading</td><td>\d\d:\d\d \(\d+ s\)</td><td>in progress</td>", uploading
        )
        metrics = await _get(lc, "/metrics")
        assert 'ocpp_lc_charger_transfers_total{kind="log",outcome="upload_failed"} 1.0' in metrics
    finally:
        await charger16.close()
        await charger201.close()
