"""allocate(): properties over generated sites, then worked examples of each rule."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from itertools import permutations
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from balancer.allocate import (
    Allocation,
    Mode,
    PauseReason,
    allocate,
)
from balancer.safe_currents import check_safe_currents_fit
from balancer.site import EvseState, MeterReading, SessionState, SiteState
from tests.balancer.strategies import NOW, STALE_AFTER_S, GeneratedSite, sites

TOLERANCE = 1e-6
NOMINAL = 230.0


# --- test helpers: the rules written out plainly, independent of the allocator's own code ---


def effective_max(evse: EvseState) -> float:
    return evse.max_current if evse.csms_limit is None else min(evse.max_current, evse.csms_limit)


def planned_draw(evse: EvseState, allocation: Allocation) -> float:
    """What the site should expect this EVSE to draw under the allocation."""
    if evse.session is SessionState.IDLE:
        return 0.0
    return allocation.limits[evse.evse_id] if evse.obeys else evse.max_current


def phase_sums(state: SiteState, amps_of: dict[str, float]) -> list[float]:
    sums = [0.0, 0.0, 0.0]
    for evse in state.evses:
        for site_phase in evse.phase_map[: evse.phases_in_use]:
            sums[site_phase - 1] += amps_of[evse.evse_id]
    return sums


def voltages_of(state: SiteState) -> tuple[float, float, float]:
    assert state.meter is not None
    return state.meter.voltages or (NOMINAL, NOMINAL, NOMINAL)


def watts(currents: list[float], voltages: tuple[float, float, float]) -> float:
    return sum(amps * volts for amps, volts in zip(currents, voltages, strict=True))


def smallest_offer(evse: EvseState) -> float:
    """The minimum current, rounded up to the 0.1 A grid limits are sent on."""
    return math.ceil(evse.min_current * 10 - 1e-9) / 10


def on_tenth_grid(amps: float) -> bool:
    return math.isclose(amps * 10, round(amps * 10), abs_tol=1e-9)


# --- properties ---


@given(sites())
def test_every_limit_is_zero_or_within_min_and_effective_max(site: GeneratedSite) -> None:
    state = site.state
    allocation = allocate(state)
    assert allocation.limits.keys() == {evse.evse_id for evse in state.evses}
    for evse in state.evses:
        limit = allocation.limits[evse.evse_id]
        assert limit == 0 or evse.min_current <= limit <= effective_max(evse) + TOLERANCE
        assert on_tenth_grid(limit)
        if evse.session is SessionState.IDLE:
            assert limit == 0
        is_paused_session = limit == 0 and evse.session is not SessionState.IDLE
        assert (evse.evse_id in allocation.paused) == is_paused_session


@given(sites())
def test_planned_current_fits_the_headroom_wherever_base_load_leaves_room(
    site: GeneratedSite,
) -> None:
    state = site.state
    allocation = allocate(state)
    assert allocation.headroom is not None
    planned = phase_sums(state, {e.evse_id: planned_draw(e, allocation) for e in state.evses})
    assert list(allocation.planned) == pytest.approx(planned, abs=TOLERANCE)
    disobedient = phase_sums(
        state, {e.evse_id: 0.0 if e.obeys else planned_draw(e, allocation) for e in state.evses}
    )
    room = [
        headroom - fixed for headroom, fixed in zip(allocation.headroom, disobedient, strict=True)
    ]
    overloaded = [free < -TOLERANCE for free in room]
    for phase in range(3):
        if not overloaded[phase]:
            assert planned[phase] <= allocation.headroom[phase] + TOLERANCE
    if state.power_cap_kw is not None:
        assert allocation.power_headroom_kw is not None
        power_room = allocation.power_headroom_kw * 1000 - watts(disobedient, voltages_of(state))
        overloaded.append(power_room < -TOLERANCE)
        if not overloaded[-1]:
            planned_power_w = watts(planned, voltages_of(state))
            assert planned_power_w <= allocation.power_headroom_kw * 1000 + TOLERANCE
            assert allocation.planned_power_kw == pytest.approx(planned_power_w / 1000)
    assert (allocation.mode is Mode.OVERLOAD) == any(overloaded)


@given(sites(measured_known=st.just(True)))
def test_headroom_is_cap_minus_margin_minus_the_true_base_load(site: GeneratedSite) -> None:
    state = site.state
    allocation = allocate(state)
    expected = [
        cap - state.margin - base for cap, base in zip(state.phase_cap, site.base_load, strict=True)
    ]
    assert allocation.headroom == pytest.approx(expected, abs=TOLERANCE)
    if state.power_cap_kw is not None:
        base_kw = watts(list(site.base_load), voltages_of(state)) / 1000
        assert allocation.power_headroom_kw == pytest.approx(state.power_cap_kw - base_kw)


@given(sites(), st.randoms(use_true_random=False))
def test_same_state_gives_the_same_allocation_whatever_the_evse_order(
    site: GeneratedSite, shuffler: random.Random
) -> None:
    state = site.state
    shuffled = replace(state, evses=tuple(shuffler.sample(state.evses, len(state.evses))))
    assert allocate(state) == allocate(state) == allocate(shuffled)


@given(sites())
def test_a_session_paused_for_capacity_would_not_have_fit(site: GeneratedSite) -> None:
    """The fewest sessions pause: one is paused only if its minimum finds no room on some phase
    it loads (up to the 0.1 A rounding of the limits on that phase)."""
    state = site.state
    allocation = allocate(state)
    assert allocation.headroom is not None
    draws = {e.evse_id: planned_draw(e, allocation) for e in state.evses}
    planned = phase_sums(state, draws)
    rounded = phase_sums(state, {e.evse_id: 0.1 if draws[e.evse_id] else 0.0 for e in state.evses})
    for evse in state.evses:
        if allocation.paused.get(evse.evse_id) is not PauseReason.NO_CAPACITY:
            continue
        site_phases = evse.phase_map[: evse.phases_in_use]
        phase_full = any(
            allocation.headroom[p - 1] - planned[p - 1] < smallest_offer(evse) + rounded[p - 1]
            for p in site_phases
        )
        power_full = False
        if allocation.power_headroom_kw is not None:
            volts = voltages_of(state)
            free_w = allocation.power_headroom_kw * 1000 - watts(planned, volts)
            per_amp = sum(volts[p - 1] for p in site_phases)
            power_full = free_w < per_amp * (smallest_offer(evse) + sum(rounded))
        assert phase_full or power_full


@given(sites(sessions=st.just(SessionState.CHARGING), obeys=st.just(True)))
def test_a_higher_priority_session_never_gets_less_unless_its_max_caps_it(
    site: GeneratedSite,
) -> None:
    state = site.state
    allocation = allocate(state)
    for high, low in permutations(state.evses, 2):
        comparable = (
            high.priority > low.priority
            # Same or fewer phases (so the same bottleneck) and no higher minimum to fit.
            and set(high.phase_map[: high.phases_in_use]) <= set(low.phase_map[: low.phases_in_use])
            and high.min_current <= low.min_current
            and effective_max(high) >= high.min_current + 0.1
        )
        if comparable:
            high_limit = allocation.limits[high.evse_id]
            capped = high_limit > effective_max(high) - 0.1
            assert high_limit >= allocation.limits[low.evse_id] or capped


@given(sites(), st.sampled_from(["no reading", "old reading"]), st.floats(0, 100))
def test_a_stale_meter_gives_every_session_its_safe_current(
    site: GeneratedSite, staleness: str, other_current: float
) -> None:
    fresh = site.state
    assert fresh.meter is not None
    old_meter = replace(fresh.meter, read_at=NOW - STALE_AFTER_S - 0.1)
    state = replace(fresh, meter=None if staleness == "no reading" else old_meter)
    allocation = allocate(state)
    assert allocation.mode is Mode.SAFE
    assert allocation.headroom is None
    sessions = [e for e in state.evses if e.session is not SessionState.IDLE]
    fits = check_safe_currents_fit(state.phase_cap, state.margin, sessions) == []
    for evse in state.evses:
        limit = allocation.limits[evse.evse_id]
        wanted = min(evse.safe_current, effective_max(evse))
        if evse.session is SessionState.IDLE or evse.safe_current == 0:
            assert limit == 0
        elif limit == 0:
            too_low = math.floor(wanted * 10 + TOLERANCE) / 10 < evse.min_current
            assert too_low or (not fits and evse.obeys)
        elif fits or not evse.obeys:
            assert wanted - 0.1 < limit <= wanted + TOLERANCE
        else:  # cut to make room beside what the LC cannot limit: safe current or minimum
            assert limit <= wanted + TOLERANCE
    # The plan stays within cap - margin on every phase the LC can keep there.
    for phase in range(3):
        if phase + 1 not in allocation.over_cap_phases:
            limit_of_cap = state.phase_cap[phase] - state.margin
            assert allocation.planned[phase] <= limit_of_cap + TOLERANCE
    # Measurements play no part.
    blind = replace(
        state,
        meter=replace(old_meter, currents=(other_current,) * 3),
        evses=tuple(replace(e, measured=(other_current, None, 0.0)) for e in state.evses),
    )
    assert allocate(blind).limits == allocation.limits


@given(sites(phases_in_use=st.just(1), power_cap_kw=st.none()), st.sampled_from((1, 2, 3)))
def test_one_phase_evses_load_only_their_own_site_phase(site: GeneratedSite, phase: int) -> None:
    state = site.state
    together = allocate(state)
    own = tuple(evse for evse in state.evses if evse.phase_map[0] == phase)
    alone = allocate(replace(state, evses=own))
    for evse in own:
        assert alone.limits[evse.evse_id] == together.limits[evse.evse_id]
    for other in {1, 2, 3} - {phase}:
        assert alone.planned[other - 1] == 0


# --- examples ---


def evse(evse_id: str, **fields: Any) -> EvseState:
    """A charging 3-phase 32 A EVSE unless told otherwise."""
    defaults: dict[str, Any] = {
        "max_current": 32.0,
        "safe_current": 6.0,
        "session": SessionState.CHARGING,
    }
    return EvseState(evse_id=evse_id, **{**defaults, **fields})


def site_with(
    *evses: EvseState,
    cap: float = 63.0,
    base_load: tuple[float, float, float] = (0.0, 0.0, 0.0),
    **fields: Any,
) -> SiteState:
    """A site whose fresh meter reading is the base load plus the EVSEs' measured currents."""
    currents = list(base_load)
    for one in evses:
        for charger_phase, site_phase in enumerate(one.phase_map):
            currents[site_phase - 1] += one.measured[charger_phase] or 0.0
    meter = MeterReading(currents=(currents[0], currents[1], currents[2]), read_at=NOW - 1)
    defaults: dict[str, Any] = {
        "phase_cap": (cap, cap, cap),
        "now": NOW,
        "meter": meter,
        "meter_stale_after_s": STALE_AFTER_S,
        "evses": evses,
    }
    return SiteState(**{**defaults, **fields})


def test_water_filling_gives_a_capped_cars_share_to_the_others() -> None:
    allocation = allocate(
        site_with(
            evse("A", max_current=10.0),
            evse("B", csms_limit=12.0),
            evse("C"),
            evse("D"),
            cap=60.0,
        )
    )
    assert allocation.limits == {"A": 10.0, "B": 12.0, "C": 19.0, "D": 19.0}
    assert allocation.mode is Mode.NORMAL
    assert allocation.planned == (60.0, 60.0, 60.0)


def draws_95_percent_of_its_limit(car: EvseState, allocation: Allocation) -> EvseState:
    limit = allocation.limits[car.evse_id]
    return replace(car, allocated=limit, measured=(0.95 * limit,) * 3)


def test_fair_share_is_steady_when_cars_draw_what_they_are_offered() -> None:
    """Closed loop: each car draws 95 % of its limit, the meter sees that plus a base load."""
    fleet: tuple[EvseState, ...] = (evse("A", max_current=10.0), evse("B"), evse("C"))
    base_load = (12.0, 8.0, 10.0)
    history = []
    for _ in range(5):
        state = site_with(*fleet, cap=50.0, margin=2.0, base_load=base_load)
        allocation = allocate(state)
        history.append(allocation.limits)
        fleet = tuple(draws_95_percent_of_its_limit(one, allocation) for one in fleet)
    # L1 carries the most base load: 50 - 2 - 12 = 36 A, of which the capped car takes 10.
    assert history[-1] == {"A": 10.0, "B": 13.0, "C": 13.0}
    assert all(limits == history[0] for limits in history)


def test_when_minimums_do_not_fit_the_fewest_sessions_pause() -> None:
    fleet = [evse(f"CP0{n}/1") for n in range(5)]
    allocation = allocate(site_with(*fleet, cap=20.0))
    charging = {k: v for k, v in allocation.limits.items() if v}
    assert list(charging.values()) == [6.6, 6.6, 6.6]  # 20 / 3, rounded down
    assert list(allocation.paused.values()) == [PauseReason.NO_CAPACITY] * 2


def test_paused_sessions_take_turns_longest_waiting_first() -> None:
    period = 900.0
    fleet = (
        evse("turn-over", charging_since=NOW - period - 1),
        evse("in-turn", charging_since=NOW - 100),
        evse("waited-long", paused_since=NOW - 300),
        evse("waited-short", paused_since=NOW - 100),
    )
    allocation = allocate(site_with(*fleet, cap=12.0, rotation_period_s=period))
    assert allocation.limits == {
        "turn-over": 0.0,
        "in-turn": 6.0,
        "waited-long": 6.0,
        "waited-short": 0.0,
    }
    assert set(allocation.paused) == {"turn-over", "waited-short"}


def test_a_charging_session_keeps_its_turn_for_the_rotation_period() -> None:
    fleet = (
        evse("charging", charging_since=NOW - 899),
        evse("waiting", paused_since=NOW - 5000),
    )
    allocation = allocate(site_with(*fleet, cap=8.0, rotation_period_s=900.0))
    assert allocation.limits == {"charging": 8.0, "waiting": 0.0}


def test_the_longest_charging_session_pauses_first_when_capacity_shrinks() -> None:
    fleet = (
        evse("since-100", charging_since=NOW - 100),
        evse("since-200", charging_since=NOW - 200),
        evse("since-50", charging_since=NOW - 50),
    )
    allocation = allocate(site_with(*fleet, cap=13.0))
    assert allocation.paused == {"since-200": PauseReason.NO_CAPACITY}


def test_a_starting_session_holds_a_reserve_of_its_minimum() -> None:
    fleet = (evse("A"), evse("B"), evse("new", session=SessionState.STARTING))
    allocation = allocate(site_with(*fleet, cap=40.0))
    assert allocation.limits == {"A": 17.0, "B": 17.0, "new": 6.0}


def test_an_ev_suspended_session_keeps_its_minimum_but_no_more() -> None:
    fleet = (evse("A"), evse("full", session=SessionState.SUSPENDED_EV))
    allocation = allocate(site_with(*fleet, cap=40.0))
    assert allocation.limits == {"A": 32.0, "full": 6.0}


def test_idle_evses_get_nothing_and_are_not_paused() -> None:
    allocation = allocate(site_with(evse("A"), evse("idle", session=SessionState.IDLE)))
    assert allocation.limits == {"A": 32.0, "idle": 0.0}
    assert allocation.paused == {}


def test_a_csms_limit_below_the_minimum_pauses_the_session() -> None:
    fleet = (evse("A", csms_limit=4.0), evse("B"))
    allocation = allocate(site_with(*fleet, cap=40.0))
    assert allocation.limits == {"A": 0.0, "B": 32.0}
    assert allocation.paused == {"A": PauseReason.LIMIT_BELOW_MIN}


def test_a_disobedient_charger_is_planned_at_its_maximum_and_the_others_cut() -> None:
    fleet = (
        evse("ignores-us", max_current=16.0, obeys=False, measured=(5.0, 5.0, 5.0)),
        evse("A"),
        evse("B"),
    )
    allocation = allocate(site_with(*fleet, cap=40.0))
    assert allocation.limits == {"ignores-us": 16.0, "A": 12.0, "B": 12.0}
    assert allocation.planned == (40.0, 40.0, 40.0)
    assert allocation.headroom == (40.0, 40.0, 40.0)


def test_base_load_falls_back_to_the_limit_in_force_when_a_charger_reports_nothing() -> None:
    unmeasured = evse("A", allocated=16.0)
    state = site_with(unmeasured, cap=63.0, margin=3.0)
    state = replace(state, meter=MeterReading(currents=(40.0, 16.0, 16.0), read_at=NOW))
    allocation = allocate(state)
    # 40 A on L1 of which 16 A are taken to be the car's: 24 A base load.
    assert allocation.headroom == (36.0, 60.0, 60.0)
    assert allocation.limits == {"A": 32.0}


def test_generation_on_site_is_not_counted_as_headroom() -> None:
    car = evse("A", measured=(20.0, 20.0, 20.0))
    state = replace(
        site_with(car, cap=25.0), meter=MeterReading(currents=(2.0, 20.0, 20.0), read_at=NOW)
    )
    assert allocate(state).headroom == (25.0, 25.0, 25.0)


def test_a_one_phase_car_on_a_rotated_charger_loads_only_its_site_phase() -> None:
    car = evse("A", phase_map=(2, 3, 1), phases_in_use=1, measured=(10.0, 0.0, 0.0))
    allocation = allocate(site_with(car, cap=20.0, base_load=(19.0, 0.0, 19.0)))
    assert allocation.limits == {"A": 20.0}
    assert allocation.planned == (0.0, 20.0, 0.0)


def test_base_load_above_the_cap_is_overload_and_pauses_sessions_on_that_phase() -> None:
    fleet = (evse("three-phase"), evse("on-L2", phase_map=(2, 3, 1), phases_in_use=1))
    allocation = allocate(site_with(*fleet, cap=63.0, base_load=(70.0, 0.0, 0.0)))
    assert allocation.mode is Mode.OVERLOAD
    assert allocation.limits == {"three-phase": 0.0, "on-L2": 32.0}
    assert allocation.paused == {"three-phase": PauseReason.OVERLOAD}


def test_the_kw_cap_is_shared_using_the_measured_voltages() -> None:
    fleet = (evse("A"), evse("B"), evse("C"))
    state = site_with(*fleet, power_cap_kw=11.0)
    state = replace(
        state,
        meter=MeterReading(currents=(0.0, 0.0, 0.0), read_at=NOW, voltages=(230.0,) * 3),
    )
    allocation = allocate(state)
    # 3 × 6 A × 690 W/A = 12.4 kW does not fit, 2 do: 11 000 W / 1 380 W/A = 7.97 A each.
    assert sorted(allocation.limits.values()) == [0.0, 7.9, 7.9]
    assert allocation.power_headroom_kw == 11.0
    assert allocation.planned_power_kw == pytest.approx(2 * 7.9 * 690 / 1000)


def test_a_higher_priority_is_fulfilled_even_if_a_lower_one_must_pause() -> None:
    fleet = (evse("vip", priority=1), evse("A"), evse("B"))
    assert allocate(site_with(*fleet, cap=40.0)).limits == {"vip": 32.0, "A": 8.0, "B": 0.0}
    assert allocate(site_with(*fleet, cap=50.0)).limits == {"vip": 32.0, "A": 9.0, "B": 9.0}


def test_a_minimum_off_the_tenth_grid_is_rounded_up_not_down() -> None:
    car = evse("A", min_current=6.05, safe_current=0.0)
    assert allocate(site_with(car, cap=6.05)).limits == {"A": 0.0}
    assert allocate(site_with(car, cap=6.1)).limits == {"A": 6.1}


@pytest.mark.parametrize("meter_age_s", [STALE_AFTER_S + 0.1, None])
def test_a_stale_or_missing_meter_reading_gives_the_safe_currents(
    meter_age_s: float | None,
) -> None:
    fleet = (
        evse("A", safe_current=10.0, measured=(30.0, 30.0, 30.0)),
        evse("B", safe_current=0.0),
        evse("C", safe_current=10.0, csms_limit=8.0),
        evse("idle", session=SessionState.IDLE),
    )
    state = site_with(*fleet, cap=1000.0)
    if meter_age_s is None:
        state = replace(state, meter=None)
    else:
        state = replace(state, meter=MeterReading(currents=(0, 0, 0), read_at=NOW - meter_age_s))
    allocation = allocate(state)
    assert allocation.mode is Mode.SAFE
    assert allocation.limits == {"A": 10.0, "B": 0.0, "C": 8.0, "idle": 0.0}
    assert allocation.paused == {"B": PauseReason.SAFE_CURRENT_ZERO}
    assert allocation.planned == (18.0, 18.0, 18.0)


def test_a_stale_meter_plans_uncontrollable_sessions_at_their_maximum_and_cuts_the_rest() -> None:
    # 40 A per phase: two chargers refusing profiles draw 2 x 16 A; the three that obey would
    # get 10 A each. 8 A are left: one is cut to its 6 A minimum, the other two are paused.
    fleet = (
        evse("deaf-1", max_current=16.0, safe_current=10.0, obeys=False),
        evse("deaf-2", max_current=16.0, safe_current=10.0, obeys=False),
        evse("A", safe_current=10.0, priority=1),
        evse("B", safe_current=10.0),
        evse("C", safe_current=10.0),
    )
    state = replace(site_with(*fleet, cap=40.0), meter=None)
    allocation = allocate(state)
    assert allocation.mode is Mode.SAFE
    assert (allocation.limits["A"], allocation.limits["B"], allocation.limits["C"]) == (6, 0, 0)
    assert allocation.paused == {"B": PauseReason.NO_CAPACITY, "C": PauseReason.NO_CAPACITY}
    assert allocation.planned == (38.0, 38.0, 38.0)
    assert allocation.over_cap_phases == ()


def test_a_stale_meter_names_the_phases_uncontrollable_sessions_overload_alone() -> None:
    fleet = (
        evse("deaf-1", max_current=32.0, obeys=False),
        evse("deaf-2", max_current=32.0, obeys=False),
        evse("A", safe_current=10.0),
    )
    allocation = allocate(replace(site_with(*fleet, cap=63.0), meter=None))
    assert allocation.over_cap_phases == (1, 2, 3)
    assert allocation.limits["A"] == 0


def test_uncontrollable_evses_count_at_their_maximum_in_the_config_check() -> None:
    fleet = [evse("deaf", max_current=32.0, obeys=False), evse("A", safe_current=10.0)]
    assert check_safe_currents_fit((63.0, 63.0, 63.0), 3.0, fleet) == []
    fleet.append(evse("deaf-2", max_current=32.0, obeys=False))
    problems = check_safe_currents_fit((63.0, 63.0, 63.0), 3.0, fleet)
    assert problems[0].startswith(
        "L1: safe currents of 1 EVSEs and 2 uncontrollable EVSEs at their maximum sum to 74.0 A"
    )


def test_safe_currents_that_fit_pass_the_config_check() -> None:
    fleet = [evse(f"CP{n}", safe_current=10.0) for n in range(6)]
    assert check_safe_currents_fit((63.0, 63.0, 63.0), 3.0, fleet) == []


def test_safe_currents_that_do_not_fit_name_the_phase_and_the_sums() -> None:
    fleet = [
        evse("three-phase", safe_current=16.0),
        evse("on-L2", safe_current=16.0, phase_map=(2, 1, 3), phases_in_use=1),
    ]
    problems = check_safe_currents_fit((40.0, 30.0, 40.0), 2.0, fleet)
    assert problems == [
        "L2: safe currents of 2 EVSEs sum to 32.0 A, more than the phase cap 30.0 A "
        "minus margin 2.0 A = 28.0 A"
    ]


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"phase_map": (1, 1, 2)}, "permutation"),
        ({"phases_in_use": 2}, "phases_in_use"),
        ({"min_current": 6.0, "max_current": 5.0}, "min_current"),
        ({"safe_current": 3.0}, "safe_current"),
        ({"csms_limit": -1.0}, "csms_limit"),
        ({"charging_since": 1.0, "paused_since": 2.0}, "charging or paused"),
    ],
)
def test_an_inconsistent_evse_is_refused(fields: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        evse("A", **fields)


def test_duplicate_evse_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        site_with(evse("A"), evse("A"))
