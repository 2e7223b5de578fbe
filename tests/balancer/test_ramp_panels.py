"""From the allocation to the limits commanded, with distribution panels: a raise never pushes a
panel's fuse over, and a panel above its fuse - margin makes the cuts urgent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from balancer.allocate import allocate
from balancer.config import LoopSettings
from balancer.fuse_tree import FuseTree
from balancer.panels import PanelLoad
from balancer.ramp import Commanded, Step, above_margin, fit_into_headroom, next_limit
from balancer.site import EvseState, PanelState, SessionState, SiteState
from tests.balancer.strategies import NOW, GeneratedTree, amps, fresh_site, sites_with_panels
from tests.balancer.test_allocate_panels import below, blind_panels

LOOP = LoopSettings(reaction_time_s=10.0, raise_fraction=0.25, deadband_a=1.0)
TOLERANCE = 1e-6


@st.composite
def previous_commands(draw: st.DrawFn, state: SiteState) -> dict[str, Commanded | None]:
    """What was commanded before, per steered session: nothing yet, an old limit, or a cut
    sent so recently that the car may still draw the limit before it."""
    commands: dict[str, Commanded | None] = {}
    for evse in state.evses:
        if evse.session is SessionState.IDLE or not evse.obeys:
            continue
        lowest, highest = evse.min_current, evse.max_current
        limit = draw(st.sampled_from((0.0, lowest)) | amps(lowest, highest))
        was = draw(st.sampled_from((0.0, highest)) | amps(0, 32))
        at = draw(st.sampled_from((NOW - 100, NOW - 1)))
        commands[evse.evse_id] = draw(
            st.sampled_from(
                (None, Commanded(lowest, NOW - 100), Commanded(lowest, NOW - 1, highest))
            )
            | st.just(Commanded(limit, at, was))
        )
    return commands


def commanded_limits(
    state: SiteState, previous: dict[str, Commanded | None]
) -> tuple[dict[str, float], dict[str, Step]]:
    """What the control loop commands for this state: ramp each target, then fit the fuses."""
    allocation = allocate(state)
    tree = FuseTree.of(state.panels)
    steps = {
        evse.evse_id: Step(
            next_limit(
                allocation.limits[evse.evse_id],
                previous[evse.evse_id],
                evse.min_current,
                NOW,
                LOOP,
                urgent=False,
            ),
            allocation.limits[evse.evse_id],
            previous[evse.evse_id],
            tree.resources(evse),
        )
        for evse in state.evses
        if evse.evse_id in previous
    }
    return fit_into_headroom(steps, allocation.steered_room, NOW, LOOP.reaction_time_s), steps


def may_draw(evse: EvseState, limits: dict[str, float], steps: dict[str, Step]) -> float:
    """What an EVSE may draw once these limits are sent: a cut acts only after the reaction."""
    if evse.session is SessionState.IDLE:
        return 0.0
    if not evse.obeys:
        return evse.max_current
    step = steps[evse.evse_id]
    pending = 0.0 if step.previous is None else step.previous.may_draw(NOW, LOOP.reaction_time_s)
    return max(limits[evse.evse_id], pending)


def raised(evse: EvseState, limits: dict[str, float], steps: dict[str, Step]) -> bool:
    step = steps.get(evse.evse_id)
    if step is None:
        return False
    before = 0.0 if step.previous is None else step.previous.limit
    return limits[evse.evse_id] > before


@settings(max_examples=300)
@given(st.data(), sites_with_panels())
def test_no_raise_pushes_a_panel_above_its_fuse(data: st.DataObject, tree: GeneratedTree) -> None:
    """Wherever a panel's current (its true base load plus what its EVSEs may draw) ends above
    fuse - margin, it is not because of a raise: no EVSE on that panel phase was raised."""
    state = tree.state
    previous = data.draw(previous_commands(state))
    limits, steps = commanded_limits(state, previous)
    for panel in state.panels:
        if panel.name in blind_panels(state):
            continue  # a stale sub-meter below: its base load is unknown
        evses = below(state, panel.name)
        for index, fuse in enumerate(panel.site_fuse()):
            site_phase = index + 1
            on_phase = [evse for evse in evses if site_phase in evse.site_phases]
            current = tree.base_below[panel.name][index] + sum(
                may_draw(evse, limits, steps) for evse in on_phase
            )
            if current > fuse - state.margin + TOLERANCE:
                assert not [e.evse_id for e in on_phase if raised(e, limits, steps)], (
                    panel.name,
                    site_phase,
                )


def test_a_raise_on_a_panel_waits_for_the_cut_on_that_panel_though_the_site_has_room() -> None:
    """Row fuse 25 A, margin 1 A: A's car paused, so A was cut 20 -> 6 A a moment ago; B may
    rise from 6 A only once A followed, else the row may carry 20 + 9 A. The site has room."""
    row = PanelState(name="row", fuse=(25.0, 25.0, 25.0))
    evses = tuple(
        EvseState(
            evse_id=key,
            max_current=20.0,
            safe_current=6.0,
            session=session,
            measured=(drawn,) * 3,
            panel="row",
        )
        for key, drawn, session in (
            ("A", 20.0, SessionState.SUSPENDED_EV),
            ("B", 6.0, SessionState.CHARGING),
        )
    )
    state = fresh_site(200.0, (30.0, 30.0, 30.0), evses, margin=1.0, panels=(row,))
    soon, later = NOW - 1, NOW - 100
    limits, _ = commanded_limits(
        state, {"A": Commanded(6.0, soon, 20.0), "B": Commanded(6.0, later)}
    )
    assert limits == {"A": 6.0, "B": 6.0}
    limits, _ = commanded_limits(
        state, {"A": Commanded(6.0, later, 20.0), "B": Commanded(6.0, later)}
    )
    assert limits["B"] > 6.0


def load(current: tuple[float, float, float] | None, fuse: float = 32.0) -> PanelLoad:
    return PanelLoad("row", None, (fuse, fuse, fuse), current, None, metered=True)


def test_a_panel_above_its_fuse_less_margin_makes_cuts_urgent_though_the_site_is_not() -> None:
    site, cap = (50.0, 50.0, 50.0), (100.0, 100.0, 100.0)
    assert not above_margin(site, cap, [load((30.0, 31.0, 30.0))], margin=1.0)
    assert above_margin(site, cap, [load((30.0, 31.5, 30.0))], margin=1.0)
    assert not above_margin(site, cap, [load(None)], margin=1.0)  # a stale sub-meter: no reading
    assert above_margin((99.5, 0.0, 0.0), cap, [], margin=1.0)
    assert not above_margin(None, cap, [], margin=1.0)
