"""Hypothesis strategies for site states.

Sites are generated from the physics outward: a base load per phase and what each car really
draws; the meter reads their sum, the chargers report (some of) the draws. So a test knows the
true base load without re-deriving it the way the allocator does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from hypothesis import strategies as st

from balancer.site import (
    EvseState,
    MeterReading,
    PanelState,
    PhaseValues,
    SessionState,
    SiteState,
)

NOW = 10_000.0
STALE_AFTER_S = 10.0
MAX_EVSES = 12
ANY_SESSION = st.sampled_from(SessionState)
ANY_PHASE_COUNT = st.sampled_from((1, 3))
MOSTLY_TRUE = st.sampled_from((True, True, True, False))
COIN = st.booleans()
# 6.05 A is off the 0.1 A grid: the allocator must round such a minimum up, never below it.
MINIMUMS = st.sampled_from((6.0, 6.0, 6.05, 8.0, 10.0))
MAYBE_POWER_CAP_KW = st.none() | st.floats(5, 120)
PHASE_MAPS: tuple[tuple[int, int, int], ...] = (
    (1, 2, 3),
    (2, 3, 1),
    (3, 1, 2),
    (1, 3, 2),
    (2, 1, 3),
    (3, 2, 1),
)


@dataclass(frozen=True)
class GeneratedSite:
    state: SiteState
    base_load: PhaseValues
    """The true non-EVSE load the meter saw."""


def amps(low: float, high: float) -> st.SearchStrategy[float]:
    """Currents on the 0.1 A grid, as a config file or a charger would give them."""
    return st.integers(round(low * 10), round(high * 10)).map(lambda tenths: tenths / 10)


def rotation_bookkeeping() -> st.SearchStrategy[tuple[float | None, float | None]]:
    """(charging_since, paused_since): new, charging for a while, or paused for a while."""
    since = st.floats(NOW - 3_600, NOW)
    return st.one_of(
        st.just((None, None)),
        since.map(lambda t: (t, None)),
        since.map(lambda t: (None, t)),
    )


@st.composite
def evse_states(
    draw: st.DrawFn,
    evse_id: str,
    *,
    sessions: st.SearchStrategy[SessionState] = ANY_SESSION,
    phases_in_use: st.SearchStrategy[int] = ANY_PHASE_COUNT,
    obeys: st.SearchStrategy[bool] = MOSTLY_TRUE,
    measured_known: st.SearchStrategy[bool] = COIN,
) -> tuple[EvseState, tuple[float, float, float]]:
    """An EVSE and what it really draws per charger phase."""
    minimum = draw(MINIMUMS)
    maximum = draw(st.floats(minimum, 32.0))
    session = draw(sessions)
    in_use: Literal[1, 3] = 1 if draw(phases_in_use) == 1 else 3
    charging_since, paused_since = draw(rotation_bookkeeping())
    allocated = draw(st.sampled_from((0.0, minimum)) | amps(0, 32))
    drawing = session is SessionState.CHARGING
    per_phase = draw(amps(0, 32)) if drawing else 0.0
    draws = (per_phase, per_phase if in_use == 3 else 0.0, per_phase if in_use == 3 else 0.0)
    known = draw(measured_known)
    evse = EvseState(
        evse_id=evse_id,
        max_current=maximum,
        safe_current=draw(st.just(0.0) | st.floats(minimum, maximum)),
        min_current=minimum,
        phase_map=draw(st.sampled_from(PHASE_MAPS)),
        phases_in_use=in_use,
        priority=draw(st.integers(-1, 1)),
        session=session,
        measured=draws if known else (None, None, None),
        allocated=allocated,
        csms_limit=draw(st.none() | st.floats(0, 32)),
        obeys=draw(obeys),
        charging_since=charging_since,
        paused_since=paused_since,
    )
    return evse, draws


@st.composite
def sites(
    draw: st.DrawFn,
    *,
    sessions: st.SearchStrategy[SessionState] = ANY_SESSION,
    phases_in_use: st.SearchStrategy[int] = ANY_PHASE_COUNT,
    obeys: st.SearchStrategy[bool] = MOSTLY_TRUE,
    measured_known: st.SearchStrategy[bool] = COIN,
    power_cap_kw: st.SearchStrategy[float | None] = MAYBE_POWER_CAP_KW,
) -> GeneratedSite:
    """A site with a fresh meter reading."""
    count = draw(st.integers(0, MAX_EVSES))
    evses_and_draws = [
        draw(
            evse_states(
                f"CP{index:02d}/1",
                sessions=sessions,
                phases_in_use=phases_in_use,
                obeys=obeys,
                measured_known=measured_known,
            )
        )
        for index in range(count)
    ]
    base_load = (draw(amps(0, 80)), draw(amps(0, 80)), draw(amps(0, 80)))
    site_current = list(base_load)
    for evse, draws in evses_and_draws:
        for charger_phase, site_phase in enumerate(evse.phase_map):
            site_current[site_phase - 1] += draws[charger_phase]
    voltages = draw(st.none() | st.tuples(*[st.floats(207, 253)] * 3))
    state = SiteState(
        phase_cap=(draw(amps(16, 125)), draw(amps(16, 125)), draw(amps(16, 125))),
        now=NOW,
        meter=MeterReading(
            currents=(site_current[0], site_current[1], site_current[2]),
            read_at=NOW - draw(st.floats(0, STALE_AFTER_S)),
            voltages=voltages,
        ),
        meter_stale_after_s=STALE_AFTER_S,
        evses=tuple(evse for evse, _ in evses_and_draws),
        margin=draw(amps(0, 5)),
        power_cap_kw=draw(power_cap_kw),
        rotation_period_s=900.0,
    )
    return GeneratedSite(state, base_load)


@dataclass(frozen=True)
class GeneratedTree:
    """A site with distribution panels, and the truth the meters saw."""

    state: SiteState
    base_below: dict[str, PhaseValues]
    """Per panel, the true non-EVSE load through it, per site phase."""


def compose(parent_map: tuple[int, int, int], own: tuple[int, int, int]) -> tuple[int, int, int]:
    """Site phase of each panel phase, from the parent's wiring and the panel's own rotation."""
    first, second, third = (parent_map[parent_phase - 1] for parent_phase in own)
    return first, second, third


@st.composite
def sites_with_panels(draw: st.DrawFn, *, max_panels: int = 5) -> GeneratedTree:
    """A fresh site meter, a random panel tree (some panels sub-metered, some of those stale),
    and EVSEs spread over the panels and the grid connection; chargers report their currents."""
    names: list[str] = []
    parents: dict[str, str | None] = {}
    maps: dict[str, tuple[int, int, int]] = {}
    own_base: dict[str, PhaseValues] = {}
    panels: list[PanelState] = []
    for index in range(draw(st.integers(1, max_panels))):
        name = f"P{index}"
        parent = draw(st.none() | st.sampled_from(names)) if names else None
        parent_map = (1, 2, 3) if parent is None else maps[parent]
        maps[name] = compose(parent_map, draw(st.sampled_from(PHASE_MAPS)))
        metered = draw(COIN)
        own_base[name] = (
            (draw(amps(0, 20)), draw(amps(0, 20)), draw(amps(0, 20)))
            if metered
            else (0.0, 0.0, 0.0)
        )
        parents[name] = parent
        names.append(name)
        panels.append(
            PanelState(
                name=name,
                parent=parent,
                fuse=(draw(amps(10, 100)), draw(amps(10, 100)), draw(amps(10, 100))),
                phase_map=maps[name],
                metered=metered,
            )
        )
    evses_and_draws = []
    for index in range(draw(st.integers(0, MAX_EVSES))):
        evse, draws = draw(evse_states(f"CP{index:02d}/1", measured_known=st.just(True)))
        evses_and_draws.append(
            (replace(evse, panel=draw(st.none() | st.sampled_from(names))), draws)
        )

    def path(name: str | None) -> list[str]:
        return [] if name is None else [name, *path(parents[name])]

    base_below = {name: [0.0, 0.0, 0.0] for name in names}
    current_below = {name: [0.0, 0.0, 0.0] for name in names}
    for name in names:
        for above in path(name):
            for phase in range(3):
                base_below[above][phase] += own_base[name][phase]
                current_below[above][phase] += own_base[name][phase]
    for evse, draws in evses_and_draws:
        for above in path(evse.panel):
            for charger_phase, site_phase in enumerate(evse.phase_map):
                current_below[above][site_phase - 1] += draws[charger_phase]
    for position, panel in enumerate(panels):
        if panel.metered and draw(MOSTLY_TRUE):  # else no reading: stale
            by_site = current_below[panel.name]
            reading = tuple(by_site[site_phase - 1] for site_phase in panel.phase_map)
            age = draw(st.floats(0, STALE_AFTER_S) | st.just(STALE_AFTER_S * 2))
            meter = MeterReading(currents=(reading[0], reading[1], reading[2]), read_at=NOW - age)
            panels[position] = replace(panel, meter=meter)
    site_base = [draw(amps(0, 60)) for _ in range(3)]
    site_current = list(site_base)
    for name in names:
        if parents[name] is None:
            for phase in range(3):
                site_current[phase] += current_below[name][phase]
    for evse, draws in evses_and_draws:
        if evse.panel is None:
            for charger_phase, site_phase in enumerate(evse.phase_map):
                site_current[site_phase - 1] += draws[charger_phase]
    state = SiteState(
        phase_cap=(draw(amps(16, 250)), draw(amps(16, 250)), draw(amps(16, 250))),
        now=NOW,
        meter=MeterReading(
            currents=(site_current[0], site_current[1], site_current[2]), read_at=NOW
        ),
        meter_stale_after_s=STALE_AFTER_S,
        evses=tuple(evse for evse, _ in evses_and_draws),
        margin=draw(amps(0, 5)),
        panels=tuple(panels),
    )
    return GeneratedTree(
        state, {name: (base[0], base[1], base[2]) for name, base in base_below.items()}
    )


def fresh_site(
    cap: float,
    currents: PhaseValues,
    evses: tuple[EvseState, ...],
    margin: float,
    panels: tuple[PanelState, ...] = (),
) -> SiteState:
    """An example site: `cap` on every phase, the meter reading `currents` just now."""
    return SiteState(
        phase_cap=(cap, cap, cap),
        now=NOW,
        meter=MeterReading(currents=currents, read_at=NOW),
        meter_stale_after_s=STALE_AFTER_S,
        evses=evses,
        margin=margin,
        panels=panels,
    )
