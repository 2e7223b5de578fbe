"""allocate(): share the grid connection's headroom between the EVSEs.

A pure function of a SiteState: no I/O, no clock, no memory between calls. Rate limiting,
deadband and slow raise / fast cut belong to the control loop that calls it.

The scheme, in order:

1. Stale meter: every session gets its configured safe current (idle EVSEs 0), whatever the
   measurements say, with the sessions the LC cannot limit planned at their maximum: where
   the safe currents do not fit beside those, sessions are cut to their minimum or paused in
   priority order, so the sum stays within cap - margin wherever the LC can make it.
   balancer/safe_currents.py has verified at config load that the configured ones fit.
2. Headroom per site phase = cap - margin - base load, where base load = |site current| - the
   current of the managed EVSEs on that phase (measured, else the limit in force for a charging
   session). A rise over the previous decision's base load that cars on their way to a new
   limit explain is theirs, not base load (see balancer/base_load.py). With a kW cap, total
   power is one more shared resource.
3. Chargers that ignore their limit are planned at their max_current before anything else.
4. Strict priority, after OCPP 2.0.1 K03.FR.04 ("a transaction with a chargingPriority that is
   higher than other transactions SHALL be fulfilled as long as possible, even if other
   transactions have to be suspended"): tier by tier from the highest priority, sessions are
   admitted at their minimum in turn order while it fits (so the fewest are paused), then the
   tier's charging sessions are water-filled up to their effective max; the next tier gets what
   is left. Within a tier the share is max-min fair: a car capped below the level gives the rest
   to the others.
5. Turn order within a tier (rotation, so nobody starves): sessions still inside their rotation
   period, most recent first; then waiting sessions, longest-waiting first; then sessions past
   their rotation period, most recent first. The session that has charged longest is paused
   first, and a waiting one replaces a charging one only once that one's turn is over.
6. Limits are rounded down to 0.1 A; a limit is 0 or within [min, effective max].
7. Distribution panels (SiteState.panels, a tree under the grid connection) add their fuses:
   a session loads its site phases and, on the same phases, every panel from its own up to the
   grid connection, each one more shared resource of the same water-filling, so every fuse
   holds and the share stays max-min fair within the panel that binds. A panel's base load comes
   from its sub-meter (its current minus its EVSEs'); a panel without one carries only what the
   sub-meters below it measured (the rest of the site meter's base load is the grid
   connection's). A panel whose sub-meter is stale puts the sessions below it on their safe
   current at most.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from itertools import groupby

from balancer.base_load import base_load, panel_base_loads
from balancer.fair_share import Claim, admit, turn_order, water_fill
from balancer.fuse_tree import FIRST_PANEL_RESOURCE, POWER, FuseTree
from balancer.offer import offer, offer_range
from balancer.phase_arithmetic import EPSILON, nominal_voltages, per_phase, phase_totals, watts
from balancer.site import (
    SITE_PHASES,
    BaseLoads,
    EvseState,
    MeterReading,
    PhaseValues,
    SessionState,
    SiteState,
)
from ocpp_knowledge.profiles import floor_to_tenth


class Mode(StrEnum):
    NORMAL = "normal"
    SAFE = "safe"
    """The meter is stale: safe currents, no use of measurements."""
    OVERLOAD = "overload"
    """Base load (plus disobedient chargers) exceeds a phase or the kW cap even with every
    session paused; sessions loading an overloaded phase are paused, the others go on."""


class PauseReason(StrEnum):
    NO_CAPACITY = "no_capacity"
    """Its minimum did not fit after higher-priority or earlier-turn sessions."""
    OVERLOAD = "overload"
    """It loads a phase (or the kW cap) exceeded with every session paused."""
    LIMIT_BELOW_MIN = "limit_below_min"
    """The CSMS limit is below the minimum current."""
    SAFE_CURRENT_ZERO = "safe_current_zero"
    """The meter is stale and its configured safe current is 0."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """What allocate() decided; the control loop turns it into charging profiles."""

    mode: Mode
    limits: Mapping[str, float]
    """Limit per EVSE id (every EVSE of the state), A per phase; 0 = do not charge."""
    paused: Mapping[str, PauseReason]
    """Sessions (non-idle EVSEs) given 0 A, and why."""
    planned: PhaseValues
    """Planned EVSE current per site phase: the limits, disobedient chargers at max_current."""
    headroom: PhaseValues | None
    """Per site phase, cap - margin - base load: what the EVSEs may draw. None in safe mode."""
    planned_power_kw: float
    power_headroom_kw: float | None
    """kW cap minus base load power; None without a kW cap or in safe mode."""
    over_cap_phases: tuple[int, ...] = ()
    """Safe mode: site phases where the sessions the LC cannot limit, at their maximum, exceed
    cap - margin on their own, whatever it does with the others."""
    panel_headroom: Mapping[str, PhaseValues] = field(default_factory=dict)
    """Per panel and site phase, fuse - margin - its measured base load; empty in safe mode."""
    steered_room: tuple[float, ...] = ()
    """What the EVSEs the LC limits may draw together, A per phase resource of FuseTree (the
    headroom less what the others may draw at their maximum); the power budget's place is inf.
    Empty in safe mode."""
    base: BaseLoads | None = None
    """The base loads it planned around; None in safe mode."""


def allocate(state: SiteState) -> Allocation:
    """Decide every EVSE's current limit for this moment. Same state in, same allocation out."""
    reading = state.meter
    if reading is None or state.meter_is_stale:
        return _safe_allocation(state)
    return _balanced_allocation(state, reading)


def _safe_allocation(state: SiteState) -> Allocation:
    limits: dict[str, float] = {}
    paused: dict[str, PauseReason] = {}
    sessions = [evse for evse in state.evses if evse.session is not SessionState.IDLE]
    for evse in state.evses:
        if evse.session is SessionState.IDLE:
            limits[evse.evse_id] = 0.0
    # What the LC cannot limit is planned first, at its maximum; the rest shares what is left.
    unlimited = [evse for evse in sessions if not evse.obeys]
    tree = FuseTree.of(state.panels)
    left = [
        limit - drawn
        for limit, drawn in zip(
            tree.limits(state),
            tree.totals((evse, evse.max_current) for evse in unlimited),
            strict=True,
        )
    ]
    over_cap = tuple(phase for phase in SITE_PHASES if left[phase - 1] < -EPSILON)
    draws: list[tuple[EvseState, float]] = [(evse, evse.max_current) for evse in unlimited]
    for evse in unlimited:
        limits[evse.evse_id] = offer(evse, evse.safe_current)
    steered = sorted(
        (evse for evse in sessions if evse.obeys), key=lambda e: (-e.priority, e.evse_id)
    )
    for evse in steered:
        resources = tree.resources(evse)
        limit = offer(evse, evse.safe_current)
        if limit > 0 and not _fits(resources, limit, left):
            limit = offer(evse, evse.min_current)
            limit = limit if _fits(resources, limit, left) else 0.0
            if limit == 0:
                paused[evse.evse_id] = PauseReason.NO_CAPACITY
        elif limit == 0:
            paused[evse.evse_id] = (
                PauseReason.SAFE_CURRENT_ZERO
                if evse.safe_current == 0
                else PauseReason.LIMIT_BELOW_MIN
            )
        limits[evse.evse_id] = limit
        for resource in resources:
            left[resource] -= limit
        draws.append((evse, limit))
    planned = phase_totals(draws)
    return Allocation(
        mode=Mode.SAFE,
        limits=limits,
        paused=paused,
        planned=planned,
        headroom=None,
        planned_power_kw=watts(planned, nominal_voltages(state)) / 1000,
        power_headroom_kw=None,
        over_cap_phases=over_cap,
    )


def _fits(resources: tuple[int, ...], amps: float, left: list[float]) -> bool:
    return all(amps <= left[resource] + EPSILON for resource in resources)


def _balanced_allocation(state: SiteState, reading: MeterReading) -> Allocation:
    voltages = reading.voltages or nominal_voltages(state)
    before = state.base_load_before
    base = base_load(
        state.evses,
        reading.currents,
        None if before is None else before.site,
        per_phase(cap - state.margin for cap in state.phase_cap),
    )
    headroom = per_phase(
        cap - state.margin - load for cap, load in zip(state.phase_cap, base, strict=True)
    )
    power_headroom_w = None
    if state.power_cap_kw is not None:
        power_headroom_w = state.power_cap_kw * 1000 - watts(base, voltages)

    tree = FuseTree.of(state.panels)
    unmetered = {panel.name for panel in state.panels if state.panel_meter_is_stale(panel)}
    limits: dict[str, float] = {}
    paused: dict[str, PauseReason] = {}
    disobedient: list[tuple[EvseState, float]] = []
    claims: list[Claim] = []
    loads_by_wiring: dict[tuple[str | None, tuple[int, ...]], tuple[tuple[int, float], ...]] = {}
    for evse in state.evses:
        if evse.session is SessionState.IDLE:
            limits[evse.evse_id] = 0.0
            continue
        offer_min, offer_max = offer_range(evse)
        on_safe_current = not unmetered.isdisjoint(tree.above(evse))
        if on_safe_current:
            offer_max = offer(evse, evse.safe_current)
        if not evse.obeys:
            # It draws what it likes, whatever we send: budget its maximum.
            disobedient.append((evse, evse.max_current))
        if offer_max < offer_min:
            limits[evse.evse_id] = 0.0
            paused[evse.evse_id] = (
                PauseReason.SAFE_CURRENT_ZERO
                if on_safe_current and evse.safe_current == 0
                else PauseReason.LIMIT_BELOW_MIN
            )
        elif not evse.obeys:
            limits[evse.evse_id] = offer_max
        else:
            # Only a drawing car can use more than its minimum; the others hold it as a reserve.
            fill_max = offer_max if evse.session is SessionState.CHARGING else offer_min
            shared = (evse.panel, evse.site_phases)  # many EVSEs load the same resources
            loads = loads_by_wiring.get(shared)
            if loads is None:
                with_power = power_headroom_w is not None
                loads = loads_by_wiring[shared] = tree.loads(evse, voltages, with_power=with_power)
            claims.append(Claim(evse, loads, offer_min, fill_max))

    fixed = phase_totals(disobedient)
    capacity = [room - load for room, load in zip(headroom, fixed, strict=True)]
    if power_headroom_w is not None:
        capacity.append(power_headroom_w - watts(fixed, voltages))
    panel_base = panel_base_loads(state, tree, unmetered)
    panel_headroom = {
        panel.name: per_phase(
            fuse - state.margin - load
            for fuse, load in zip(panel.site_fuse(), panel_base[panel.name], strict=True)
        )
        for panel in tree.panels
    }
    if tree.panels:
        if len(capacity) == POWER:
            capacity.append(math.inf)  # no kW cap: a budget nobody loads
        fixed_by_resource = tree.totals(disobedient)[FIRST_PANEL_RESOURCE:]
        rooms = [room for panel in tree.panels for room in panel_headroom[panel.name]]
        capacity.extend(room - load for room, load in zip(rooms, fixed_by_resource, strict=True))
    overloaded = [free < -EPSILON for free in capacity]
    steered_room = tuple(
        math.inf if resource == POWER else free for resource, free in enumerate(capacity)
    )

    claims.sort(key=partial(turn_order, state.now, state.rotation_period_s))
    for _, tier in groupby(claims, key=lambda claim: claim.evse.priority):
        admitted = [claim for claim in tier if admit(claim, capacity)]
        water_fill(admitted, capacity)
    for claim in claims:
        evse_id = claim.evse.evse_id
        limits[evse_id] = floor_to_tenth(claim.current)
        if not limits[evse_id]:
            too_much_base = any(overloaded[resource] for resource, _ in claim.loads)
            paused[evse_id] = PauseReason.OVERLOAD if too_much_base else PauseReason.NO_CAPACITY

    planned = phase_totals(
        disobedient + [(claim.evse, limits[claim.evse.evse_id]) for claim in claims]
    )
    return Allocation(
        mode=Mode.OVERLOAD if any(overloaded) else Mode.NORMAL,
        limits=limits,
        paused=paused,
        planned=planned,
        headroom=headroom,
        planned_power_kw=watts(planned, voltages) / 1000,
        power_headroom_kw=None if power_headroom_w is None else power_headroom_w / 1000,
        panel_headroom=panel_headroom,
        steered_room=steered_room,
        base=BaseLoads(base, panel_base),
    )
