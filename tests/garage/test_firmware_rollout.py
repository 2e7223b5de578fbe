"""The demo's firmware rollout on a small garage: the simulated CSMS has the LC publish a
release from the manufacturer's server, then tells a 1.6 and a 2.0.1 simulated charger
(through the LC) to update from the LC's URI; both download it from the LC, install it, and
the LC's status page says so."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from garage.charge_point import SimulatedChargePoint
from garage.csms import SimulatedCsms
from garage.firmware_origin import FirmwareOrigin
from lc.app import LocalController
from lc.demo import roll_out_firmware
from tests.conftest import lc_site_config
from tests.peers import wait_until

pytestmark = pytest.mark.timeout(90)


async def test_a_rollout_reaches_every_charger_through_the_lc(tmp_path: Path) -> None:
    async with (
        SimulatedCsms() as csms,
        FirmwareOrigin("release.bin", bytes(range(256)) * 256) as origin,
    ):
        firmware = {"folder": str(tmp_path / "firmware"), "listen_host": "127.0.0.1"}
        config = lc_site_config(csms.url, tmp_path, firmware=firmware | {"listen_port": 0})
        lc = LocalController(config)
        await lc.start()
        url = f"ws://127.0.0.1:{lc.router.port}"
        chargers = [
            SimulatedChargePoint(url, "cp16", version="1.6"),
            SimulatedChargePoint(url, "cp201", version="2.0.1"),
        ]
        try:
            for charger in chargers:
                await charger.connect()
            await roll_out_firmware(lc, csms, origin, ["cp16", "cp201"])
            await wait_until(
                lambda: (
                    len(lc.site_view.chargers) == 2
                    and all(
                        (update := charger.transfers.get("firmware")) is not None
                        and update.outcome == "installed"
                        for charger in lc.site_view.chargers.values()
                    )
                ),
                timeout_s=60,
                what="both chargers installed",
            )
            # The LC observes a frame right after relaying it: the CSMS may get the last one a
            # moment after the LC saw it.
            await wait_until(
                lambda: (
                    [csms.count(i, "FirmwareStatusNotification") for i in ("cp16", "cp201")]
                    == [4, 4]
                ),
                timeout_s=10,
                what="all four statuses of both chargers at the CSMS",
            )
            url = f"http://127.0.0.1:{lc.metrics_port}/"
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                page = await response.text()
            assert page.count("<td>firmware update</td>") == 2
            assert page.count("<td>installed</td></tr>") == 2
        finally:
            for charger in chargers:
                await charger.close()
            await lc.stop()
