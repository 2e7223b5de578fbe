"""1-phase cars on 3-phase chargers: planned on the one phase they are seen drawing on."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from balancer.allocate import allocate
from balancer.model import phases_drawn
from balancer.site import EvseState, SessionState
from tests.balancer.strategies import GeneratedSite, fresh_site, sites

Readings = tuple[float | None, float | None, float | None]


def on_one_phase(evse: EvseState, phase: int) -> EvseState:
    """The EVSE with a 1-phase car seen drawing on charger phase `phase` of its 3."""
    amps = evse.measured[0]
    measured: Readings = (None, None, None)
    if amps is not None:
        measured = (amps if phase == 1 else 0.0, amps if phase == 2 else 0.0, 0.0)
        if phase == 3:
            measured = (0.0, 0.0, amps)
    return replace(evse, measured=measured, drawing_phase=phase)


def as_configured_one_phase(evse: EvseState) -> EvseState:
    """The same EVSE as a charger configured 1-phase, its phase wired where the car draws."""
    assert evse.drawing_phase is not None
    first = evse.drawing_phase - 1
    order = (first, (first + 1) % 3, (first + 2) % 3)
    pm, m = evse.phase_map, evse.measured
    return replace(
        evse,
        phases_in_use=1,
        phase_map=(pm[order[0]], pm[order[1]], pm[order[2]]),
        measured=(m[order[0]], m[order[1]], m[order[2]]),
        drawing_phase=None,
    )


@settings(max_examples=300)
@given(sites(phases_in_use=st.just(3)), st.data())
def test_a_one_phase_car_is_planned_like_a_one_phase_charger_on_its_phase(
    site: GeneratedSite, data: st.DataObject
) -> None:
    """Seen drawing on one phase, a car is planned exactly as a 1-phase charger wired to that
    phase: what holds for those (every phase within its headroom) holds for it."""
    state = site.state
    phases = [data.draw(st.sampled_from((1, 2, 3))) for _ in state.evses]
    seen = tuple(on_one_phase(evse, phase) for evse, phase in zip(state.evses, phases, strict=True))
    configured = tuple(as_configured_one_phase(evse) for evse in seen)
    assert allocate(replace(state, evses=seen)) == allocate(replace(state, evses=configured))


def test_the_other_phases_are_left_to_other_sessions() -> None:
    """20 A free per phase. Two 1-phase cars on 3-phase chargers, wired to L1 and L2: each has
    its phase to itself, where planned on all three they would share 20 A."""
    cars = tuple(
        EvseState(
            evse_id=key,
            max_current=32.0,
            safe_current=6.0,
            session=SessionState.CHARGING,
            phase_map=phase_map,
            measured=(10.0, 0.0, 0.0),
            drawing_phase=1,
        )
        for key, phase_map in (("on-L1", (1, 2, 3)), ("on-L2", (2, 3, 1)))
    )
    state = fresh_site(50.0, (40.0, 40.0, 30.0), cars, margin=0.0)
    assert allocate(state).limits == {"on-L1": 20.0, "on-L2": 20.0}
    unknown = tuple(replace(car, drawing_phase=None) for car in cars)
    assert allocate(replace(state, evses=unknown)).limits == {"on-L1": 10.0, "on-L2": 10.0}


def test_a_reading_names_the_phases_drawn_only_when_complete_and_drawing() -> None:
    assert phases_drawn((16.0, 0.2, 0.0)) == {1}
    assert phases_drawn((0.0, -16.0, 0.3)) == {2}
    assert phases_drawn((16.0, 15.8, 16.1)) == {1, 2, 3}
    assert phases_drawn((16.0, None, None)) == set()  # the others unknown: not a 1-phase car
    assert phases_drawn((0.4, 0.0, 0.0)) == set()  # no car drawing: nothing to tell
