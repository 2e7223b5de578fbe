"""The site limit a PyPI-`ocpp` CSMS sets on the LC's EVSE 0 steers a running garage (simulated
meter and charge point through the LC), is reported, cleared and kept across a restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from ocpp.v201 import call as call201

from balancer.control import LoadBalancer
from balancer.site_cap import CapSource
from tests.peers import wait_until
from tests.station.csms_for_lc import CsmsForLc
from tests.station.garage_for_lc import (
    BASE_LOAD_A,
    CHARGER_MAX_A,
    CONFIG_CAP_A,
    MARGIN_A,
    Stops,
    charging_garage,
    metered_config,
    next_period,
    start_lc,
)
from tests.station.test_site_limit import station_max

pytestmark = pytest.mark.timeout(90)

SITE_LIMIT_A = 20.0
HEADROOM_A = SITE_LIMIT_A - MARGIN_A - BASE_LOAD_A  # what the car may draw under the limit


def site_max(periods: list[tuple[int, float]], unit: str = "A") -> call201.SetChargingProfile:
    """The CSMS's site limit on the LC's EVSE 0, its schedule starting now."""
    return call201.SetChargingProfile(
        evse_id=0,
        charging_profile=station_max(periods=periods, unit=unit, start=datetime.now(UTC)),
    )


async def capped_at(balancer: LoadBalancer, amps: float, binding: CapSource) -> None:
    await wait_until(
        lambda: balancer.cap.phase_cap_a == (amps,) * 3 and balancer.cap.binding is binding,
        10,
        f"the site cap at {amps} A set by {binding}",
    )


async def test_a_csms_limit_below_the_config_cap_is_obeyed_until_cleared(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    garage = await charging_garage(csms, stack, tmp_path)
    balancer, charge_point = garage.balancer, garage.charge_point
    watts = SITE_LIMIT_A * 230 * 3  # the site's nominal voltage, three phases
    answer = await csms.station.call(site_max([(0, watts)], unit="W"))
    assert answer.status == "Accepted"
    await capped_at(balancer, SITE_LIMIT_A, CapSource.CSMS)
    status = await garage.lc.status()
    assert status.balancer is not None and status.balancer.caps == (SITE_LIMIT_A,) * 3
    assert status.station is not None and status.station.cap == balancer.cap
    for _ in range(2):  # the period under way at the answer may have read the old cap
        await next_period(balancer)
    allocation = balancer.last_allocation
    assert allocation is not None and allocation.headroom is not None
    assert max(allocation.headroom) <= SITE_LIMIT_A - MARGIN_A
    await wait_until(
        lambda: (charge_point.limit or 0) <= HEADROOM_A, 20, "the car cut under the CSMS's limit"
    )

    asked_for = {"chargingProfilePurpose": "ChargingStationMaxProfile"}
    reported = await csms.station.call(
        call201.GetChargingProfiles(request_id=7, charging_profile=asked_for)
    )
    assert reported.status == "Accepted"
    await wait_until(lambda: bool(csms.profile_reports), 10, "ReportChargingProfiles")
    report = csms.profile_reports[0]
    assert (report["request_id"], report["evse_id"]) == (7, 0)
    assert [profile["id"] for profile in report["charging_profile"]] == [1]

    cleared = await csms.station.call(call201.ClearChargingProfile(charging_profile_id=1))
    assert cleared.status == "Accepted"
    await capped_at(balancer, CONFIG_CAP_A, CapSource.CONFIG)
    none_left = await csms.station.call(
        call201.GetChargingProfiles(request_id=8, charging_profile=asked_for)
    )
    assert none_left.status == "NoProfiles"
    await wait_until(
        lambda: charge_point.limit == CHARGER_MAX_A, 20, "the car back at its charger's maximum"
    )


async def test_a_schedule_period_lowers_the_limit_when_it_starts(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    garage = await charging_garage(csms, stack, tmp_path)
    balancer, charge_point = garage.balancer, garage.charge_point
    answer = await csms.station.call(site_max([(0, 25.0), (4, SITE_LIMIT_A)]))
    assert answer.status == "Accepted"
    await capped_at(balancer, SITE_LIMIT_A, CapSource.CSMS)
    caps = [sample.caps for sample in balancer.history.samples()]
    assert (25.0,) * 3 in caps  # the first period's limit came first
    await wait_until(
        lambda: (charge_point.limit or 0) <= HEADROOM_A, 20, "the car cut by the second period"
    )


async def test_a_restart_keeps_the_limit_and_the_composite_reports_it(
    csms: CsmsForLc, stack: Stops, tmp_path: Path
) -> None:
    config = await metered_config(csms, stack, tmp_path)
    first_run: Stops = []
    _, balancer = await start_lc(config, first_run)
    try:
        refused = await csms.station.call(
            call201.SetChargingProfile(
                evse_id=1, charging_profile=site_max([(0, 10.0)]).charging_profile
            )
        )
        assert refused.status == "Rejected"
        answer = await csms.station.call(site_max([(0, SITE_LIMIT_A)]))
        assert answer.status == "Accepted"
        await capped_at(balancer, SITE_LIMIT_A, CapSource.CSMS)
    finally:
        for stop in reversed(first_run):
            await stop()

    _, balancer = await start_lc(config, stack)
    await capped_at(balancer, SITE_LIMIT_A, CapSource.CSMS)
    composite = await csms.station.call(call201.GetCompositeSchedule(duration=600, evse_id=0))
    assert composite.status == "Accepted"
    periods = composite.schedule["charging_schedule_period"]
    assert [(p["start_period"], p["limit"]) for p in periods] == [(0, SITE_LIMIT_A)]
    elsewhere = await csms.station.call(call201.GetCompositeSchedule(duration=600, evse_id=1))
    assert elsewhere.status == "Rejected"
