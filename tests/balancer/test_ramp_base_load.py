"""A car following a raised limit under a tight cap: the site meter (pymodbus) sees its new
current before the charger reports it (PyPI `ocpp` chargers, their MeterValues sent when the
test says). That rise is the car's, not base load: the other session must not be cut for it;
and a real overload is still cut by the first decision that sees it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from ocpp.v201 import call as call201

from balancer.allocate import allocate
from balancer.control import LoadBalancer
from balancer.site import (
    BaseLoads,
    EvseState,
    MeterReading,
    PanelState,
    SessionState,
    SiteState,
)
from garage.charge_point import SimulatedChargePoint
from garage.csms import SimulatedCsms
from garage.site import SimulatedSite
from lc.app import LocalController
from lc.config import parse_config
from modbus.simulator import SimulatedMeter
from tests.balancer.test_profiles_through_router import site_toml
from tests.peers import wait_until

pytestmark = pytest.mark.timeout(60)

PERIOD_S = 0.5
ACTUATION_S = 0.5  # how long a simulated car takes to follow a new limit
CAP_A = 34.0
MARGIN_A = 1.0
BASE_A = 3.0  # so the sessions share 34 - 1 - 3 = 30 A
CSMS_LIMIT_A = 6.0  # what the CSMS first allows car A
PROFILE_ID = 77


@dataclass
class Garage:
    lc: LocalController
    balancer: LoadBalancer
    csms: SimulatedCsms
    site: SimulatedSite
    a: SimulatedChargePoint
    b: SimulatedChargePoint
    base: list[float]


def _config(csms_url: str, meter_port: int) -> dict[str, Any]:
    balancer = {
        "period_s": PERIOD_S,
        "reaction_time_s": ACTUATION_S + 2 * PERIOD_S,
        "raise_fraction": 1.0,
        "measurement_max_age_s": 20,  # A's report stays in use while its car ramps
    }
    # A comes first: it gets its 16 A, B what is left.
    chargers = [
        {"identity": identity, "max_current_a": 16, "safe_current_a": 0, "priority": priority}
        for identity, priority in (("CP-A", 1), ("CP-B", 0))
    ]
    site = {"phase_cap_a": [CAP_A] * 3, "margin_a": MARGIN_A}
    return site_toml(csms_url, meter_port, balancer=balancer, chargers=chargers, site=site)


@pytest.fixture
async def garage() -> AsyncIterator[Garage]:
    csms = SimulatedCsms()
    await csms.start()
    meter = SimulatedMeter("eastron_sdm630")
    await meter.start()
    lc = LocalController(parse_config(_config(csms.url, meter.link.port)))
    await lc.start()
    url = f"ws://127.0.0.1:{lc.router.port}"
    # B reports every period; A only when the test says (an interval far beyond the test),
    # as a charger reporting every minute, or a chained LC, may be seconds behind the meter.
    a, b = (
        SimulatedChargePoint(
            url,
            identity,
            version="2.0.1",
            hardware_max_current_a=16,
            reaction_delay_s=ACTUATION_S,
            meter_interval_s=interval_s,
        )
        for identity, interval_s in (("CP-A", 3600), ("CP-B", PERIOD_S))
    )
    base = [BASE_A] * 3
    site = SimulatedSite(
        meter, [(a, (1, 2, 3)), (b, (1, 2, 3))], lambda _t: (base[0], base[1], base[2])
    )
    await site.start()
    await a.connect()
    await b.connect()
    assert lc.balancer is not None
    yield Garage(lc, lc.balancer, csms, site, a, b, base)
    for cp in (a, b):
        await cp.close()
    await site.stop()
    await lc.stop()
    await meter.stop()
    await csms.stop()


def _csms_limit_on_a(limit_a: float) -> call201.SetChargingProfile:
    return call201.SetChargingProfile(
        evse_id=1,
        charging_profile={
            "id": PROFILE_ID,
            "stack_level": 0,
            "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Absolute",
            "charging_schedule": [
                {
                    "id": 1,
                    "start_schedule": "2020-01-01T00:00:00Z",
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": 0, "limit": limit_a}],
                }
            ],
        },
    )


def _draws(cp: SimulatedChargePoint, amps: float) -> bool:
    return abs(max(cp.phase_currents()) - amps) < 0.05


async def _decisions_after(balancer: LoadBalancer, count: int) -> None:
    """Until the balancer decided `count` more times."""
    since = asyncio.get_running_loop().time()
    await wait_until(
        lambda: sum(s.at > since for s in balancer.history.samples()) >= count,
        10,
        f"{count} more decisions",
    )


def _limits_sent(cp: SimulatedChargePoint) -> list[float]:
    """Every limit the LC's TxProfiles gave the charger, oldest first."""
    return [
        period["limit"]
        for payload in cp.log.payloads("SetChargingProfile")
        if payload["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"
        for schedule in payload["chargingProfile"]["chargingSchedule"]
        for period in schedule["chargingSchedulePeriod"]
    ]


async def test_a_car_following_its_raise_does_not_cut_the_other_session(garage: Garage) -> None:
    lc, balancer, a, b = garage.lc, garage.balancer, garage.a, garage.b
    answer = await garage.csms.station("CP-A").call(_csms_limit_on_a(CSMS_LIMIT_A))
    assert answer.status == "Accepted", a.rejections
    await wait_until(lambda: balancer.model.chargers["CP-A"].csms_profiles, 10, "the CSMS's")
    await b.plug_in(16)
    await a.plug_in(16)
    # A within the CSMS's 6 A, B at its maximum beside it; both report what they draw.
    await wait_until(lambda: _draws(a, CSMS_LIMIT_A) and _draws(b, 16.0), 20, "6 A and 16 A")
    await a.send_meter_values()
    await _decisions_after(balancer, 3)
    sent_to_b = len(_limits_sent(b))

    # The CSMS lifts its limit: A may have 16 A, B gets the 14 A left, and A's car follows
    # its raise before A's next report.
    await garage.csms.station("CP-A").call(
        call201.ClearChargingProfile(charging_profile_id=PROFILE_ID)
    )
    await wait_until(lambda: _draws(a, 16.0), 20, "A's car at 16 A")
    await _decisions_after(balancer, 4)  # each on a reading with A's new 16 A, its report 6 A
    assert lc.balancer is balancer
    allocation = balancer.last_allocation
    assert allocation is not None and allocation.limits["CP-B/1"] == 14.0
    assert min(_limits_sent(b)[sent_to_b:]) == 14.0  # never cut below its share

    # A real overload, while A's report still says 6 A: the decision that reads it cuts.
    garage.base[:] = [BASE_A + 8] * 3
    overloaded_at = asyncio.get_running_loop().time()
    await wait_until(
        lambda: any(
            s.at > overloaded_at and s.currents and max(s.currents) > CAP_A - MARGIN_A
            for s in balancer.history.samples()
        ),
        10,
        "a decision on the overload",
    )
    seeing = next(
        s
        for s in balancer.history.samples()
        if s.at > overloaded_at and s.currents and max(s.currents) > CAP_A - MARGIN_A
    )
    # What the EVs may draw now is within the cap beside the 11 A of base load.
    assert max(seeing.planned) <= CAP_A - MARGIN_A - (BASE_A + 8) + 0.01


# -- the rule on the allocator alone -----------------------------------------------------------


def _allocated_beside(
    site_a: float,
    *,
    before: float | None = BASE_A,
    measured_before_limit: bool = True,
    panel_a: float | None = None,
) -> BaseLoads:
    """The base loads allocate() plans around: one car measured at 6 A with a 16 A limit,
    behind a sub-metered panel reading `panel_a` if given."""
    car = EvseState(
        evse_id="CP-A/1",
        max_current=16.0,
        safe_current=0.0,
        session=SessionState.CHARGING,
        measured=(CSMS_LIMIT_A,) * 3,
        allocated=16.0,
        measured_before_limit=measured_before_limit,
        panel=None if panel_a is None else "row",
    )
    panels: tuple[PanelState, ...] = ()
    if panel_a is not None:
        reading = MeterReading(currents=(panel_a,) * 3, read_at=100.0)
        panels = (PanelState(name="row", fuse=(25.0,) * 3, metered=True, meter=reading),)
    state = SiteState(
        phase_cap=(CAP_A,) * 3,
        margin=MARGIN_A,
        now=100.0,
        meter=MeterReading(currents=(site_a,) * 3, read_at=100.0),
        meter_stale_after_s=5.0,
        evses=(car,),
        panels=panels,
        base_load_before=None
        if before is None
        else BaseLoads((before,) * 3, {"row": (before,) * 3}),
    )
    base = allocate(state).base
    assert base is not None
    return base


def _base_under(
    site_a: float, *, before: float | None = BASE_A, measured_before_limit: bool = True
) -> float:
    base = _allocated_beside(site_a, before=before, measured_before_limit=measured_before_limit)
    assert base.site[0] == base.site[1] == base.site[2]
    return base.site[0]


def test_a_rise_the_car_explains_is_the_cars() -> None:
    assert _base_under(BASE_A + 16) == BASE_A  # the car at its new limit
    assert _base_under(BASE_A + 11) == BASE_A  # on its way there


def test_a_rise_beyond_the_cars_limit_is_base_load() -> None:
    assert _base_under(BASE_A + 7 + 16) == pytest.approx(BASE_A + 7)


def test_the_reports_stand_as_they_are_without_a_limit_to_follow_a_decision_before_or_room() -> (
    None
):
    reported = BASE_A + 16 - CSMS_LIMIT_A
    # Reported after its car could follow its limit: it takes less of its own accord.
    assert _base_under(BASE_A + 16, measured_before_limit=False) == reported
    assert _base_under(BASE_A + 16, before=None) == reported  # the first decision
    # Above cap - margin: whatever the car might be doing, the overload is cut at once.
    over = CAP_A - MARGIN_A + 2
    assert _base_under(over) == over - CSMS_LIMIT_A


def test_a_sub_metered_panel_puts_the_rise_down_to_its_car_too() -> None:
    ramped = BASE_A + 16
    assert _allocated_beside(ramped, panel_a=ramped).panels["row"] == (BASE_A,) * 3
    first = _allocated_beside(ramped, panel_a=ramped, before=None)
    assert first.panels["row"] == (ramped - CSMS_LIMIT_A,) * 3
