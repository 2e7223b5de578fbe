"""The running LC with a [firmware] section: its publisher and file server start and stop
with it, their metrics are on /metrics, and a port it cannot take names the key."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest

from lc.app import LocalController
from lc.config import SiteConfig
from router.start_error import StartError
from tests.conftest import lc_site_config
from tests.firmware.origin import FIRMWARE, MD5, notices_until_over, origin_server
from tests.peers import Csms

pytestmark = pytest.mark.timeout(60)


def _config(csms: Csms, folder: Path, firmware_port: int = 0) -> SiteConfig:
    firmware = {"folder": str(folder), "listen_host": "127.0.0.1", "listen_port": firmware_port}
    return lc_site_config(csms.url, folder.parent, firmware=firmware)


async def _get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.read()


async def test_the_lc_publishes_and_serves_firmware_and_counts_it(
    csms: Csms,
    tmp_path: Path,
    firmware_file: Path,
) -> None:
    lc = LocalController(_config(csms, tmp_path / "firmware"))
    await lc.start()
    try:
        assert lc.firmware is not None
        async with origin_server(firmware_file) as origin:
            payload = {"location": f"{origin.base_url}/fw.bin", "checksum": MD5, "requestId": 1}
            assert lc.firmware.publish_firmware(payload) == {"status": "Accepted"}
            [uri] = (await notices_until_over(lc.firmware))[-1]["location"]
        assert await _get(uri) == (200, FIRMWARE)
        status, metrics = await _get(f"http://127.0.0.1:{lc.metrics_port}/metrics")
        assert status == 200
        assert b'ocpp_lc_firmware_publications_total{status="Published"} 1.0' in metrics
        assert (
            f'ocpp_lc_firmware_fetches_total{{file="{MD5}/fw.bin",outcome="sent"}} 1.0'.encode()
            in metrics
        )
    finally:
        await lc.stop()


async def test_a_firmware_port_in_use_names_the_key(csms: Csms, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        lc = LocalController(_config(csms, tmp_path / "firmware", port))
        with pytest.raises(
            StartError, match=rf"^firmware\.listen_port: cannot listen on 127\.0\.0\.1:{port}"
        ):
            await lc.start()
