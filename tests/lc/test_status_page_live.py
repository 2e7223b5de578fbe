"""The status page served by the running LC, as a site manager opens it: a garage of
PyPI-`ocpp` chargers balanced under the cap, a pymodbus meter that goes away, a charger that
leaves, and a CSMS outage with messages waiting in the journal."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v16 import call as call16

from lc.app import LocalController
from lc.config import SiteConfig, parse_config
from tests.balancer.test_closed_loop import Garage, make_garage  # noqa: F401 (fixture)
from tests.peers import Csms, connect_charge_point, now_iso, wait_until

pytestmark = pytest.mark.timeout(60)


async def _page(garage: Garage) -> str:
    return await _get(f"http://127.0.0.1:{garage.lc.metrics_port}/")


async def _get(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        return await response.text()


async def _page_showing(garage: Garage, pattern: str, what: str, timeout_s: float = 15) -> str:
    return await _page_at(f"http://127.0.0.1:{garage.lc.metrics_port}/", pattern, what, timeout_s)


async def _page_at(url: str, pattern: str, what: str, timeout_s: float = 15) -> str:
    """The page once it matches `pattern`, polled for at most `timeout_s`."""
    seen: list[str] = []

    async def check() -> bool:
        seen[:] = [await _get(url)]
        return re.search(pattern, seen[0]) is not None

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"the status page never showed {what}")
        await asyncio.sleep(0.3)
    return seen[0]


async def test_the_page_shows_chargers_sessions_limits_and_the_meter_going_away(
    make_garage: Callable[..., Any],  # noqa: F811
) -> None:
    garage: Garage = await make_garage()
    await garage.chargers["CP-1"].plug_in(32, phases=3)  # 2.0.1
    await garage.chargers["CP-2"].plug_in(32, phases=1)  # 1.6
    page = await _page_showing(
        garage,
        r"<td>CP-1</td><td>1</td><td>charging at \d+\.\d A</td>.*?<td>\d+\.\d A</td><td>its ",
        "CP-1 charging, its limit and why",
    )
    assert "Chargers (4 of 4 connected)" in page
    assert "Sessions (2)" in page
    for identity in ("CP-P", "CP-1", "CP-2", "CP-3"):
        assert f"<td>{identity}</td>" in page
    assert "ocpp1.6" in page and "ocpp2.0.1" in page
    assert page.count('<polyline class="measured"') == 3  # one chart per phase
    measured = re.findall(r"<td>L\d</td><td>(\d+\.\d) A</td><td>50 A</td>", page)
    assert len(measured) == 3 and all(10 <= float(amps) <= 50 for amps in measured)

    await garage.meter.stop()
    page = await _page_showing(garage, r"L1: no reading now", "the meter lost")
    page = await _page_showing(garage, r'class="shade-meter-lost"', "the meter loss shaded")
    assert '<span class="mode warn">meter lost: every car on its safe current</span>' in page

    await garage.chargers["CP-3"].close()
    await wait_until(lambda: "CP-3" not in garage.lc.router.connected(), what="CP-3 gone")
    page = await _page(garage)
    assert "Chargers (3 of 4 connected)" in page
    assert re.search(r"CP-3</td><td><span class=\"warn\">offline since \d\d:\d\d \(\d+ s\)", page)


def _hold_config(csms: Csms, tmp_path: Path) -> SiteConfig:
    return parse_config(
        {
            "router": {
                "upstream_url": csms.url,
                "listen_host": "127.0.0.1",
                "listen_port": 0,
                "offline": {
                    "journal_path": str(tmp_path / "journal.sqlite"),
                    "redial_interval_s": 0.1,
                },
            },
            "metrics": {"listen_port": 0},
        }
    )


async def test_the_page_shows_a_csms_outage_and_what_waits_for_the_csms(
    tmp_path: Path, csms: Csms
) -> None:
    config = _hold_config(csms, tmp_path)
    lc = LocalController(config)
    await lc.start()
    url = f"http://127.0.0.1:{lc.metrics_port}/"
    charger = await connect_charge_point(f"ws://127.0.0.1:{lc.router.port}", "CP-H", "ocpp1.6")
    try:
        await charger.cp.boot()
        await csms.stop()
        await _page_at(url, "CSMS unreachable: the LC answers", "the outage")
        await charger.cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=0, timestamp=now_iso()
            )
        )
        await _page_at(url, r"1 message waiting for the CSMS \(oldest \d+ s ago\)", "the backlog")

        await csms.start(csms.port)
        await wait_until(lambda: "StartTransaction" in str(csms.received("CP-H")), what="replay")
        # The link cell is plain again: the CSMS link is up and nothing waits for it.
        pattern = r"<td>CP-H</td><td>online since \d\d:\d\d \(\d+ s\)</td>"
        await _page_at(url, pattern, "the CSMS link back, nothing waiting")
    finally:
        await charger.close()
        await lc.stop()


async def test_chargers_the_config_names_are_listed_before_they_connect(tmp_path: Path) -> None:
    config = parse_config(
        {
            "router": {
                "upstream_url": "ws://127.0.0.1:9",
                "allowed_identities": ["CP-A", "CP-B"],
                "offline": {"journal_path": str(tmp_path / "journal.sqlite")},
            },
            "site": {"phase_cap_a": 32},
            "meter": {"map": "eastron_sdm630", "host": "127.0.0.1"},
            "chargers": [{"identity": "CP-B"}, {"identity": "CP-C", "safe_current_a": 0}],
        }
    )
    # Not started: nothing has connected, and the page already lists all three as offline.
    snapshot = await LocalController(config).status()
    assert list(snapshot.expected) == ["CP-A", "CP-B", "CP-C"]
    assert snapshot.started_at <= snapshot.now


async def test_the_page_says_a_backlog_waits_for_a_charger_gone_since_a_restart(
    tmp_path: Path,
) -> None:
    csms = Csms(passwords={"CP-W": "pw"})
    await csms.start()
    config = _hold_config(csms, tmp_path)
    lc = LocalController(config)
    await lc.start()
    charger = await connect_charge_point(
        f"ws://127.0.0.1:{lc.router.port}", "CP-W", "ocpp1.6", password="pw"
    )
    try:
        await charger.cp.boot()
        await csms.stop()
        gauge = lc.router.metrics.upstream_connected
        await wait_until(lambda: gauge.value("CP-W") == 0, what="the outage")
        await charger.cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=0, timestamp=now_iso()
            )
        )
        await charger.close()  # gone for good; then the LC restarts
        await lc.stop()
        lc = LocalController(config)
        await lc.start()
        await csms.start(csms.port)
        await _page_at(
            f"http://127.0.0.1:{lc.metrics_port}/",
            r"CP-W</td>.*?1 message waiting for the CSMS .*"
            r"wait for this charger to reconnect",
            "the backlog waiting for its charger",
        )
    finally:
        await charger.close()
        await lc.stop()
        await csms.stop()
