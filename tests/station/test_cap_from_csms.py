"""A CSMS's SetVariables of the grid cap steers a running garage: simulated meter and charge
points (garage/) through the LC, the LC's own identity at a PyPI-`ocpp` CSMS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call as call201

from balancer.control import LoadBalancer
from garage.charge_point import SimulatedChargePoint
from garage.csms import SimulatedCsms
from garage.site import SimulatedSite
from lc.app import LocalController
from lc.config import parse_config
from modbus.simulator import SimulatedMeter
from station.session import LinkState
from tests.balancer.test_profiles_through_router import site_toml
from tests.peers import wait_until
from tests.station.csms_for_lc import CsmsForLc, station_config

pytestmark = pytest.mark.timeout(60)

BASE_LOAD_A = 10.0
MARGIN_A = 1.0  # site_toml's


@pytest.fixture
async def stack() -> AsyncIterator[list[Callable[[], Any]]]:
    """What to stop at the end, last started first."""
    stops: list[Callable[[], Any]] = []
    yield stops
    for stop in reversed(stops):
        await stop()


async def test_set_variables_of_the_cap_changes_the_next_allocation(
    csms: CsmsForLc, stack: list[Callable[[], Any]], tmp_path: Path
) -> None:
    chargers_csms = SimulatedCsms()
    await chargers_csms.start()
    stack.append(chargers_csms.stop)
    meter = SimulatedMeter("eastron_sdm630")
    await meter.start()
    stack.append(meter.stop)
    config = site_toml(
        chargers_csms.url,
        meter.link.port,
        balancer={"raise_fraction": 1.0},
        chargers=[{"identity": "CP-1", "max_current_a": 16, "safe_current_a": 6}],
    ) | {"station": station_config(csms, tmp_path)["station"]}
    lc = LocalController(parse_config(config))
    await lc.start()
    stack.append(lc.stop)
    balancer, station = lc.balancer, lc.station
    assert balancer is not None and station is not None
    charge_point = SimulatedChargePoint(
        f"ws://127.0.0.1:{lc.router.port}",
        "CP-1",
        version="2.0.1",
        hardware_max_current_a=16,
        reaction_delay_s=0.1,
        meter_interval_s=0.2,
        reconnect_delay_s=0.1,
    )
    site = SimulatedSite(meter, [(charge_point, (1, 2, 3))], lambda _t: (BASE_LOAD_A,) * 3)
    await site.start()
    stack.append(site.stop)
    await charge_point.connect()
    stack.append(charge_point.close)
    await wait_until(lambda: station.session.state is LinkState.ACCEPTED, 10, "Accepted")
    await charge_point.plug_in(32)
    await wait_until(lambda: charge_point.limit == 16, 20, "the car at its charger's maximum")

    answer = await csms.station.call(
        call201.SetVariables(
            set_variable_data=[
                {
                    "component": {"name": "SiteLoadBalancer"},
                    "variable": {"name": "PhaseCap", "instance": phase},
                    "attributeValue": "20",
                }
                for phase in ("L1", "L2", "L3")
            ]
        )
    )
    assert [r["attribute_status"] for r in answer.set_variable_result] == ["Accepted"] * 3
    # The first period that begins after the answer plans with the new cap (the one under
    # way at the answer may have read the old one).
    for _ in range(2):
        await _next_period(balancer)
    allocation = balancer.last_allocation
    assert allocation is not None and allocation.headroom is not None
    # cap - margin - base load, the base load as measured: with the old cap at least 21 A.
    assert max(allocation.headroom) <= 20 - MARGIN_A
    headroom_a = 20 - MARGIN_A - BASE_LOAD_A
    await wait_until(
        lambda: (charge_point.limit or 0) <= headroom_a, 20, "the car cut to the new headroom"
    )


async def _next_period(balancer: LoadBalancer) -> None:
    before = balancer.last_allocation
    await wait_until(lambda: balancer.last_allocation is not before, 10, "the next period")
