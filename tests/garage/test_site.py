"""The site model: phase rotation, overshoot accounting, meter energy (no network)."""

import asyncio

import pytest

from garage.evse import ThreePhases
from garage.panel import SimulatedPanel
from garage.site import SimulatedSite, TimedCurrents
from modbus.simulator import SimulatedMeter


class FixedDraw:
    def __init__(self, currents: ThreePhases) -> None:
        self.currents = currents

    def phase_currents(self) -> ThreePhases:
        return self.currents


def site_with(*chargers: tuple[FixedDraw, tuple[int, int, int]]) -> SimulatedSite:
    return SimulatedSite(SimulatedMeter("eastron_sdm630"), chargers, lambda t: (1.0, 2.0, 3.0))


def test_charger_phases_land_on_site_phases_through_the_rotation() -> None:
    one_phase = FixedDraw((16.0, 0.0, 0.0))
    three_phase = FixedDraw((10.0, 20.0, 30.0))
    site = site_with((one_phase, (3, 1, 2)), (three_phase, (2, 3, 1)))
    # three_phase: charger L1 -> site L2, L2 -> L3, L3 -> L1.
    assert site.currents(0.0) == (1.0 + 30.0, 2.0 + 10.0, 3.0 + 16.0 + 20.0)


def test_rotation_must_be_a_permutation() -> None:
    with pytest.raises(ValueError, match="permutation"):
        site_with((FixedDraw((0.0, 0.0, 0.0)), (1, 1, 2)))


def test_seconds_above_sums_the_periods_that_start_above_the_limit() -> None:
    site = site_with()
    site.history.extend(
        TimedCurrents(at, currents)
        for at, currents in [
            (10.0, (5.0, 5.0, 5.0)),
            (10.5, (5.0, 41.0, 5.0)),
            (11.5, (5.0, 40.0, 5.0)),
            (12.0, (42.0, 5.0, 5.0)),
            (12.1, (5.0, 5.0, 5.0)),
        ]
    )
    assert site.seconds_above(40.0) == pytest.approx(1.0 + 0.1)
    assert site.seconds_above(40.0, since=11.0) == pytest.approx(0.1)


async def test_energy_counter_increases_with_import() -> None:
    site = site_with((FixedDraw((32.0, 32.0, 32.0)), (1, 2, 3)))
    site.update()
    await asyncio.sleep(0.05)
    site.update()
    power_w = 230.0 * (6.0 + 96.0)
    elapsed_h = (site.history[1].at - site.history[0].at) / 3600
    assert site.energy_wh == pytest.approx(power_w * elapsed_h)
    assert site.energy_wh > 0.0


def test_a_panel_carries_its_own_load_and_what_it_feeds_and_the_site_sees_it_rotated() -> None:
    row = SimulatedPanel("row", [(FixedDraw((16.0, 0.0, 0.0)), (2, 3, 1))])
    floor = SimulatedPanel(
        "floor", [(row, (3, 1, 2)), (FixedDraw((10.0, 10.0, 10.0)), (1, 2, 3))], (1.0, 1.0, 1.0)
    )
    assert row.phase_currents() == (0.0, 16.0, 0.0)
    # row phase 2 is on floor phase 1
    assert floor.phase_currents() == (27.0, 11.0, 11.0)
    site = site_with()
    site.chargers.append((floor, (2, 3, 1)))
    sample = site.update()
    assert sample.currents == (1.0 + 11.0, 2.0 + 27.0, 3.0 + 11.0)
    # The site samples its sub-boards, and they theirs, in step.
    assert [s.currents for s in floor.history] == [(27.0, 11.0, 11.0)]
    assert [s.currents for s in row.history] == [(0.0, 16.0, 0.0)]
    assert floor.seconds_above(20.0) == 0.0
