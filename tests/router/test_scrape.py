"""`/metrics` keeps each charger's line rendered: what it serves must still be exactly what
prometheus_client renders from the same registry, and follow chargers coming and going."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from router.charger_gauge import ChargerGauge, exposition
from router.metrics import RouterMetrics, metrics_app
from router.server import Router
from tests.peers import Csms, RunningChargePoint, wait_until_async
from tests.router.test_hold import connect, hold_router  # noqa: F401 (fixture)


@pytest.fixture
async def metrics_url(hold_router: tuple[Csms, Router]) -> AsyncIterator[str]:  # noqa: F811
    _, router = hold_router
    runner = web.AppRunner(metrics_app([router.metrics.registry]), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
    await runner.cleanup()


async def _scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.text()


def _links(text: str) -> list[str]:
    """Its per-charger lines; in the order the links came up, which is not the test's."""
    return sorted(
        line for line in text.splitlines() if line.startswith("ocpp_lc_upstream_connected{")
    )


async def _scrape_until(url: str, links: list[str], what: str) -> None:
    async def shown() -> bool:
        return _links(await _scrape(url)) == links

    await wait_until_async(shown, what=what)


def _rendered_as_prometheus_client_does(router: Router) -> None:
    registry = router.metrics.registry
    assert exposition([registry]) == generate_latest(registry)


async def test_a_scrape_follows_chargers_and_their_csms_links_as_prometheus_client_renders(
    hold_router: tuple[Csms, Router],  # noqa: F811
    metrics_url: str,
) -> None:
    csms, router = hold_router
    chargers: list[RunningChargePoint] = []
    try:
        for n in range(4):
            chargers.append(await connect(router, n, "ocpp1.6" if n % 2 else "ocpp2.0.1"))
        up = [f'ocpp_lc_upstream_connected{{charger="CP{n:02d}"}} 1.0' for n in range(4)]
        await _scrape_until(metrics_url, up, "four CSMS links up")
        _rendered_as_prometheus_client_does(router)

        await chargers.pop(1).close()
        await _scrape_until(metrics_url, [up[0], up[2], up[3]], "CP01 gone")
        chargers.append(await connect(router, 1, "ocpp1.6"))
        await _scrape_until(metrics_url, up, "CP01 back")
        _rendered_as_prometheus_client_does(router)

        await csms.stop()  # under hold the chargers stay, their CSMS links go down
        down = [line.replace(" 1.0", " 0.0") for line in up]
        await _scrape_until(metrics_url, down, "every CSMS link down")
        _rendered_as_prometheus_client_does(router)
    finally:
        for charger in chargers:
            await charger.close()


def test_a_charger_gauge_renders_escaped_identities_and_changes_as_a_gauge_does() -> None:
    registry = CollectorRegistry()
    gauge = ChargerGauge("ocpp_lc_example", 'help with "quotes" and \\', registry)
    reference_registry = CollectorRegistry()
    reference = Gauge(
        "ocpp_lc_example", 'help with "quotes" and \\', ["charger"], registry=reference_registry
    )
    for identity, value in (("CP-1", 1), ('we"ird\\id', 0), ("CP-1", 0), ("ü-CP", 1)):
        gauge.set(identity, value)
        reference.labels(identity).set(value)
    gauge.remove('we"ird\\id')
    reference.remove('we"ird\\id')
    gauge.set('we"ird\\id', 1)
    reference.labels('we"ird\\id').set(1)
    gauge.remove("never-there")
    assert exposition([registry]) == generate_latest(reference_registry)
    assert generate_latest(registry) == generate_latest(reference_registry)
    assert gauge.value("CP-1") == 0
    assert gauge.value("never-there") is None


def test_queue_depths_are_read_once_per_scrape_and_published_as_gauge_functions_did() -> None:
    metrics = RouterMetrics()
    reads: list[list[int]] = []

    def depths() -> list[int]:
        reads.append([0, 3, 1])
        return reads[-1]

    metrics.watch_queue_depths(depths)
    reference_registry = CollectorRegistry()
    reference = Gauge(
        "ocpp_lc_call_queue_depth",
        "Calls waiting to be sent to chargers (one outstanding CALL per direction)",
        ["stat"],
        registry=reference_registry,
    )
    reference.labels("total").set_function(lambda: 4)
    reference.labels("max").set_function(lambda: 3)
    ours = [
        line
        for line in exposition([metrics.registry]).decode().splitlines()
        if "ocpp_lc_call_queue_depth" in line
    ]
    assert ours == generate_latest(reference_registry).decode().splitlines()
    assert len(reads) == 1
