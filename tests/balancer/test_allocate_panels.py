"""allocate() with distribution panels: properties over random fuse trees, then examples."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings

from balancer.allocate import Allocation, Mode, PauseReason, allocate
from balancer.safe_currents import check_safe_currents_fit
from balancer.site import EvseState, MeterReading, PanelState, SessionState, SiteState
from tests.balancer.strategies import NOW, STALE_AFTER_S, GeneratedTree, sites_with_panels

TOLERANCE = 1e-6
ROUNDING = 0.1  # limits are rounded down to 0.1 A, so a full resource may keep that much per user


def below(state: SiteState, name: str) -> list[EvseState]:
    """The EVSEs whose current passes through panel `name`, found by walking up from each."""
    parents = {panel.name: panel.parent for panel in state.panels}
    found = []
    for evse in state.evses:
        panel = evse.panel
        while panel is not None and panel != name:
            panel = parents[panel]
        if panel == name:
            found.append(evse)
    return found


def panel_names_above(state: SiteState, evse: EvseState) -> list[str]:
    parents = {panel.name: panel.parent for panel in state.panels}
    names = []
    panel = evse.panel
    while panel is not None:
        names.append(panel)
        panel = parents[panel]
    return names


def draw_of(evse: EvseState, allocation: Allocation) -> float:
    if evse.session is SessionState.IDLE:
        return 0.0
    return allocation.limits[evse.evse_id] if evse.obeys else evse.max_current


def per_site_phase(evses: list[EvseState], amps_of: dict[str, float]) -> list[float]:
    sums = [0.0, 0.0, 0.0]
    for evse in evses:
        for site_phase in evse.site_phases:
            sums[site_phase - 1] += amps_of[evse.evse_id]
    return sums


def blind_panels(state: SiteState) -> set[str]:
    """Panels whose base load the allocator cannot know: a stale sub-meter at or below them,
    with no fresh sub-meter in between."""
    blind: set[str] = set()
    for panel in reversed(state.panels):
        fresh = panel.metered and not state.panel_meter_is_stale(panel)
        children = [child.name for child in state.panels if child.parent == panel.name]
        if not fresh and (state.panel_meter_is_stale(panel) or not blind.isdisjoint(children)):
            blind.add(panel.name)
    return blind


def under_stale_meter(state: SiteState, evse: EvseState) -> bool:
    stale = {panel.name for panel in state.panels if state.panel_meter_is_stale(panel)}
    return not stale.isdisjoint(panel_names_above(state, evse))


def highest_offer(state: SiteState, evse: EvseState) -> float:
    effective = (
        evse.max_current if evse.csms_limit is None else min(evse.max_current, evse.csms_limit)
    )
    if under_stale_meter(state, evse):
        effective = min(effective, evse.safe_current)
    return math.floor(effective * 10 + TOLERANCE) / 10


def smallest_offer(evse: EvseState) -> float:
    return math.ceil(evse.min_current * 10 - TOLERANCE) / 10


# --- properties ---


@settings(max_examples=200)
@given(sites_with_panels())
def test_no_limit_is_between_zero_and_the_minimum(tree: GeneratedTree) -> None:
    allocation = allocate(tree.state)
    for evse in tree.state.evses:
        limit = allocation.limits[evse.evse_id]
        assert limit == 0 or smallest_offer(evse) <= limit <= highest_offer(tree.state, evse)


@settings(max_examples=200)
@given(sites_with_panels())
def test_no_panel_is_planned_above_its_fuse_where_its_base_load_leaves_room(
    tree: GeneratedTree,
) -> None:
    state = tree.state
    allocation = allocate(state)
    draws = {evse.evse_id: draw_of(evse, allocation) for evse in state.evses}
    blind = blind_panels(state)
    for panel in state.panels:
        if panel.name in blind:
            continue
        evses = below(state, panel.name)
        planned = per_site_phase(evses, draws)
        unlimited = per_site_phase(
            evses, {e.evse_id: 0.0 if e.obeys else draws[e.evse_id] for e in evses}
        )
        for phase, fuse in enumerate(panel.site_fuse()):
            room = fuse - state.margin - tree.base_below[panel.name][phase]
            if unlimited[phase] <= room + TOLERANCE:
                assert planned[phase] <= room + TOLERANCE, (panel.name, phase + 1)
            else:
                assert allocation.mode is Mode.OVERLOAD


@settings(max_examples=200)
@given(sites_with_panels())
def test_sessions_below_a_stale_sub_meter_get_their_safe_current_at_most(
    tree: GeneratedTree,
) -> None:
    allocation = allocate(tree.state)
    for evse in tree.state.evses:
        if under_stale_meter(tree.state, evse) and evse.obeys:
            assert allocation.limits[evse.evse_id] <= evse.safe_current + TOLERANCE


@settings(max_examples=200)
@given(sites_with_panels())
def test_a_session_held_below_its_maximum_is_among_the_highest_where_it_binds(
    tree: GeneratedTree,
) -> None:
    """Max-min fairness: a session that could draw more is stopped by a full phase (of the grid
    connection or a panel) on which no session of its priority above its minimum has more."""
    state = tree.state
    allocation = allocate(state)
    assert allocation.headroom is not None
    draws = {evse.evse_id: draw_of(evse, allocation) for evse in state.evses}
    groups: list[tuple[list[EvseState], list[float]]] = [
        (list(state.evses), list(allocation.headroom))
    ]
    for panel in state.panels:
        groups.append((below(state, panel.name), list(allocation.panel_headroom[panel.name])))
    for evse in state.evses:
        limit = allocation.limits[evse.evse_id]
        if (
            not evse.obeys
            or evse.session is not SessionState.CHARGING
            or limit == 0
            or limit >= highest_offer(state, evse) - TOLERANCE
        ):
            continue
        binding = False
        for evses, headroom in groups:
            if evse not in evses:
                continue
            planned = per_site_phase(evses, draws)
            for site_phase in evse.site_phases:
                users = [e for e in evses if site_phase in e.site_phases]
                full = headroom[site_phase - 1] - planned[site_phase - 1]
                if full > ROUNDING * len(users) + TOLERANCE:
                    continue
                rivals = [
                    draws[e.evse_id]
                    for e in users
                    if e.obeys
                    and e.priority == evse.priority
                    and draws[e.evse_id] > smallest_offer(e) + TOLERANCE
                ]
                if all(limit >= rival - ROUNDING - TOLERANCE for rival in rivals):
                    binding = True
        assert binding, evse.evse_id


@settings(max_examples=200)
@given(sites_with_panels())
def test_with_the_site_meter_stale_every_panel_holds_where_the_lc_can_make_it(
    tree: GeneratedTree,
) -> None:
    """Safe currents at most, cut to the minimum or paused where they do not fit: every panel
    holds unless the sessions the LC cannot limit, at their maximum, exceed it on their own."""
    state = replace(tree.state, meter=None)
    allocation = allocate(state)
    assert allocation.mode is Mode.SAFE
    draws = {evse.evse_id: draw_of(evse, allocation) for evse in state.evses}
    for panel in state.panels:
        evses = below(state, panel.name)
        planned = per_site_phase(evses, draws)
        unlimited = per_site_phase(
            evses, {e.evse_id: 0.0 if e.obeys else draws[e.evse_id] for e in evses}
        )
        for phase, fuse in enumerate(panel.site_fuse()):
            if unlimited[phase] <= fuse - state.margin + TOLERANCE:
                assert planned[phase] <= fuse - state.margin + TOLERANCE, (panel.name, phase + 1)
    for evse in state.evses:
        limit = allocation.limits[evse.evse_id]
        assert limit == 0 or smallest_offer(evse) <= limit <= evse.safe_current + TOLERANCE


# --- examples ---


def charging(evse_id: str, panel: str | None, **fields: float) -> EvseState:
    return EvseState(
        evse_id=evse_id,
        max_current=fields.get("max_current", 32.0),
        safe_current=fields.get("safe_current", 6.0),
        session=SessionState.CHARGING,
        measured=(10.0, 10.0, 10.0),
        panel=panel,
    )


def garage(*evses: EvseState, panels: tuple[PanelState, ...], cap: float = 250.0) -> SiteState:
    """A fresh site meter reading just the EVSEs' measured currents."""
    currents = [0.0, 0.0, 0.0]
    for evse in evses:
        for charger_phase, site_phase in enumerate(evse.phase_map):
            currents[site_phase - 1] += evse.measured[charger_phase] or 0.0
    return SiteState(
        phase_cap=(cap, cap, cap),
        now=NOW,
        meter=MeterReading(currents=(currents[0], currents[1], currents[2]), read_at=NOW),
        meter_stale_after_s=STALE_AFTER_S,
        evses=evses,
        panels=panels,
    )


FLOOR = PanelState(name="floor-1", fuse=(80.0, 80.0, 80.0))
ROW = PanelState(name="row-a", parent="floor-1", fuse=(32.0, 32.0, 32.0))


def test_a_row_fuse_shares_its_32_a_while_the_floor_gives_the_rest_to_the_others() -> None:
    state = garage(
        charging("A1/1", "row-a"),
        charging("A2/1", "row-a"),
        charging("F1/1", "floor-1"),
        charging("F2/1", "floor-1"),
        panels=(FLOOR, ROW),
    )
    limits = allocate(state).limits
    assert limits == {"A1/1": 16.0, "A2/1": 16.0, "F1/1": 24.0, "F2/1": 24.0}


def test_a_rotated_panel_holds_its_fuse_on_the_site_phase_it_is_wired_to() -> None:
    # Panel phase 1 (fuse 10 A) is site L2: a 1-phase car there gets 10 A, one on L1 its max.
    rotated = PanelState(name="rotated", fuse=(10.0, 80.0, 80.0), phase_map=(2, 3, 1))
    on_l2 = EvseState(
        evse_id="R1/1",
        max_current=32.0,
        safe_current=0.0,
        session=SessionState.CHARGING,
        phase_map=(2, 3, 1),
        phases_in_use=1,
        panel="rotated",
    )
    on_l1 = EvseState(
        evse_id="R2/1",
        max_current=32.0,
        safe_current=0.0,
        session=SessionState.CHARGING,
        phases_in_use=1,
        panel="rotated",
    )
    allocation = allocate(garage(on_l2, on_l1, panels=(rotated,)))
    assert allocation.limits == {"R1/1": 10.0, "R2/1": 32.0}
    assert allocation.panel_headroom["rotated"] == (80.0, 10.0, 80.0)


def test_a_sub_meter_base_load_is_taken_from_its_panel_and_the_panels_above() -> None:
    # The floor's sub-meter sees 40 A of lighting beside the row's two cars drawing 10 A each.
    metered = PanelState(
        name="floor-1",
        fuse=(80.0, 80.0, 80.0),
        metered=True,
        meter=MeterReading(currents=(60.0, 60.0, 60.0), read_at=NOW),
    )
    cars = (charging("A1/1", "floor-1"), charging("A2/1", "floor-1"))
    allocation = allocate(garage(*cars, panels=(metered,)))
    assert allocation.panel_headroom["floor-1"] == (40.0, 40.0, 40.0)
    assert allocation.limits == {"A1/1": 20.0, "A2/1": 20.0}


def test_a_stale_sub_meter_puts_its_sessions_on_their_safe_current() -> None:
    stale = PanelState(
        name="floor-1",
        fuse=(80.0, 80.0, 80.0),
        metered=True,
        meter=MeterReading(currents=(20.0, 20.0, 20.0), read_at=NOW - 2 * STALE_AFTER_S),
    )
    inside = charging("A1/1", "floor-1", safe_current=8.0)
    without_safe = charging("A2/1", "floor-1", safe_current=0.0)
    outside = charging("S1/1", None)
    allocation = allocate(garage(inside, without_safe, outside, panels=(stale,)))
    assert allocation.limits == {"A1/1": 8.0, "A2/1": 0.0, "S1/1": 32.0}
    assert allocation.paused == {"A2/1": PauseReason.SAFE_CURRENT_ZERO}


def test_with_the_site_meter_stale_every_panel_still_holds() -> None:
    cars = [charging(f"A{i}/1", "row-a", safe_current=10.0) for i in range(4)]
    state = garage(*cars, panels=(FLOOR, ROW))
    stale = SiteState(
        phase_cap=state.phase_cap,
        now=NOW,
        meter=None,
        meter_stale_after_s=STALE_AFTER_S,
        evses=state.evses,
        panels=state.panels,
    )
    allocation = allocate(stale)
    assert allocation.mode is Mode.SAFE
    assert sorted(allocation.limits.values()) == [0.0, 10.0, 10.0, 10.0]


def test_safe_currents_that_do_not_fit_a_panel_are_named_with_the_panel() -> None:
    cars = [charging(f"A{i}/1", "row-a", safe_current=10.0) for i in range(4)]
    problems = check_safe_currents_fit((250.0, 250.0, 250.0), 0.0, cars, (FLOOR, ROW))
    assert problems == [
        f"panel row-a L{phase}: safe currents of 4 EVSEs sum to 40.0 A, more than the fuse "
        "32.0 A minus margin 0.0 A = 32.0 A"
        for phase in (1, 2, 3)
    ]


@pytest.mark.parametrize(
    ("panels", "complaint"),
    [
        ((ROW,), "parent floor-1 is not listed before"),
        ((FLOOR, FLOOR), "listed twice"),
    ],
)
def test_an_inconsistent_tree_is_refused(panels: tuple[PanelState, ...], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        garage(panels=panels)
