"""Two LCs chained, over real sockets: a sub-board's charger -> child LC -> parent LC -> a
PyPI-`ocpp` CSMS. The parent balances the child as one charger (its demand: the child's own
MeterValues on EVSE 0) and limits it with ChargingStationMaxProfile; the child applies that as
its site cap, so the parent's cap reaches the child's charger."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from balancer.control import LoadBalancer
from balancer.site_cap import CapSource
from garage.csms import SimulatedCsms
from lc.app import LocalController
from lc.config import parse_config
from modbus.simulator import SimulatedMeter
from station.session import LinkState
from tests.balancer.test_profiles_through_router import site_toml
from tests.peers import wait_until
from tests.station.garage_for_lc import CHARGER_MAX_A, MARGIN_A, Stops, charging_car

pytestmark = pytest.mark.timeout(120)

CHILD = "LC-SUB-1"
# The parent steps no faster than the child reports its demand (every second), else it plans on
# a draw up to a second old against a fresh meter reading, and swings.
PARENT_LOOP = {"period_s": 1.0, "reaction_time_s": 2.0, "raise_fraction": 0.5}
# The child's demand reaches the parent up to a second late, so while the car ramps up the parent
# takes part of its draw for the building's base load and may cut the child, to 0 when what is
# left is below its minimum; it then raises it again by raise_fraction of the gap once a reaction
# time after each change: about three raises (some 9 s) back to the child's whole demand, and the
# skew can cut a raise back once more. Observed up to ~17 s; the bound leaves room for a busy CPU.
DEMAND_SETTLES_S = 45
CHILD_BASE_A = 2.0  # the sub-board's own load
PARENT_BASE_A = 10.0  # the rest of the building, on the parent's meter only
LOWERED_CAP_A = 24.0
# What the lowered parent cap leaves the child, and the child its car.
CHILD_SHARE_A = LOWERED_CAP_A - MARGIN_A - PARENT_BASE_A
CAR_SHARE_A = CHILD_SHARE_A - MARGIN_A - CHILD_BASE_A


async def started(config: dict[str, Any], stops: Stops) -> tuple[LocalController, LoadBalancer]:
    lc = LocalController(parse_config(config))
    await lc.start()
    stops.append(lc.stop)
    assert lc.balancer is not None
    return lc, lc.balancer


async def meter(stops: Stops) -> SimulatedMeter:
    simulated = SimulatedMeter("eastron_sdm630")
    await simulated.start()
    stops.append(simulated.stop)
    return simulated


async def test_the_parent_s_cap_reaches_the_child_s_charger(stack: Stops, tmp_path: Path) -> None:
    csms = SimulatedCsms()
    await csms.start()
    stack.append(csms.stop)
    parent_meter, child_meter = await meter(stack), await meter(stack)
    child_entry = {
        "identity": CHILD,
        "local_controller": True,
        "max_current_a": 32,
        "safe_current_a": 6,
        "chargers_behind": ["CP-1"],
    }
    parent_config = site_toml(
        csms.url, parent_meter.link.port, balancer=PARENT_LOOP, chargers=[child_entry]
    )
    parent, parent_balancer = await started(parent_config, stack)

    child_config = site_toml(
        f"ws://127.0.0.1:{parent.router.port}",
        child_meter.link.port,
        balancer={"raise_fraction": 1.0},
        chargers=[{"identity": "CP-1", "max_current_a": CHARGER_MAX_A, "safe_current_a": 6}],
    ) | {
        "station": {
            "identity": CHILD,
            "csms_url": f"ws://127.0.0.1:{parent.router.port}/ocpp/{CHILD}",  # the parent
            "aligned_data_interval_s": 1,
            "reconnect_wait_minimum_s": 0.1,
            "reconnect_random_range_s": 0,
            "state_path": str(tmp_path / "child-station-state.json"),
        }
    }
    child, child_balancer = await started(child_config, stack)
    link = child.station
    assert link is not None
    await wait_until(lambda: link.session.state is LinkState.ACCEPTED, 10, "the child Accepted")

    # The parent's meter sees the whole building: its own load, the sub-board's and the car.
    loads = [(child_meter, CHILD_BASE_A), (parent_meter, PARENT_BASE_A + CHILD_BASE_A)]
    charge_point = await charging_car(child, loads, stack)
    # The parent plans the child from the child's own MeterValues on its EVSE 0.
    child_evse = parent_balancer.model.evses[f"{CHILD}/1"]
    await wait_until(
        lambda: (child_evse.measured[0] or 0) >= CHARGER_MAX_A,
        DEMAND_SETTLES_S,
        "the child's demand",
    )
    assert CHILD in parent_balancer.station_max
    assert "CP-1" not in parent_balancer.model.chargers  # the child balances it

    lowered = replace(parent_balancer.config, phase_cap_a=(LOWERED_CAP_A,) * 3)
    parent_balancer.apply_config(lowered)
    await wait_until(
        lambda: (
            child_balancer.cap.binding is CapSource.CSMS
            and max(child_balancer.cap.phase_cap_a) <= CHILD_SHARE_A + 0.5
        ),
        20,
        "the child capped by the parent's ChargingStationMaxProfile",
    )
    await wait_until(
        lambda: (charge_point.limit or 0) <= CAR_SHARE_A + 0.5, 20, "the car cut by the parent"
    )
    # The charger's and the child's own frames went through both LCs to the CSMS.
    assert csms.count("CP-1", "TransactionEvent") > 0
    assert csms.count(CHILD, "BootNotification") > 0 and csms.count(CHILD, "MeterValues") > 0
