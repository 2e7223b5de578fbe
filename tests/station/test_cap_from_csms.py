"""A CSMS's SetVariables of the grid cap steers a running garage: simulated meter and charge
points (garage/) through the LC, the LC's own identity at a PyPI-`ocpp` CSMS."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocpp.v201 import call as call201

from tests.peers import wait_until
from tests.station.csms_for_lc import CsmsForLc
from tests.station.garage_for_lc import BASE_LOAD_A, MARGIN_A, Stops, charging_garage, next_period

pytestmark = pytest.mark.timeout(60)


async def test_set_variables_of_the_cap_changes_the_next_allocation(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    garage = await charging_garage(csms, stack, tmp_path)
    balancer, charge_point = garage.balancer, garage.charge_point

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
        await next_period(balancer)
    allocation = balancer.last_allocation
    assert allocation is not None and allocation.headroom is not None
    # cap - margin - base load, the base load as measured: with the old cap at least 21 A.
    assert max(allocation.headroom) <= 20 - MARGIN_A
    headroom_a = 20 - MARGIN_A - BASE_LOAD_A
    await wait_until(
        lambda: (charge_point.limit or 0) <= headroom_a, 20, "the car cut to the new headroom"
    )
