"""allocate(): share the grid connection's headroom between the EVSEs.

A pure function of a SiteState: no I/O, no clock, no memory between calls. Rate limiting,
deadband and slow raise / fast cut belong to the control loop that calls it.

The scheme, in order:

1. Stale meter: every session gets its configured safe current (idle EVSEs 0), whatever the
   measurements say, with the sessions the LC cannot limit planned at their maximum: where
   the safe currents do not fit beside those, sessions are cut to their minimum or paused in
   priority order, so the sum stays within cap - margin wherever the LC can make it.
   check_safe_currents_fit() has verified at config load that the configured ones fit.
2. Headroom per site phase = cap - margin - base load, where base load = |site current| - the
   current of the managed EVSEs on that phase (measured, else the limit in force for a charging
   session). A rise over the previous decision's base load that cars on their way to a new
   limit explain is theirs, not base load (see _base_load). With a kW cap, total power is one
   more shared resource.
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

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from itertools import groupby
from operator import attrgetter

from balancer.site import (
    SITE_PHASES,
    BaseLoads,
    EvseState,
    MeterReading,
    PanelState,
    PhaseValues,
    SessionState,
    SiteState,
)
from ocpp_knowledge.profiles import ceil_to_tenth, floor_to_tenth

_EPSILON = 1e-6
"""Float noise allowance, in A (phases) or W (power)."""

_POWER = len(SITE_PHASES)
"""Resource index of the total power budget; 0..2 are the site phases L1..L3."""
_FIRST_PANEL_RESOURCE = _POWER + 1
"""Panels follow: three resources each, the panel's fuse on site phase L1, L2, L3."""

# Turn-order groups within one priority tier, see the module docstring.
_IN_TURN = 0
_WAITING = 1
_TURN_OVER = 2


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


@dataclass(frozen=True, slots=True)
class FuseTree:
    """The fuses as resources: the site phases, the power budget, then each panel's three
    phases; where each panel's three start, and the path up from each."""

    panels: tuple[PanelState, ...]
    first_resource: Mapping[str, int]
    path: Mapping[str, tuple[str, ...]]
    """Panel name -> itself and every panel above it."""
    known: dict[tuple[str | None, tuple[int, ...]], tuple[int, ...]] = field(default_factory=dict)
    """resources() by (panel, site phases): many EVSEs share them."""

    @classmethod
    def of(cls, panels: tuple[PanelState, ...]) -> FuseTree:
        first_resource: dict[str, int] = {}
        path: dict[str, tuple[str, ...]] = {}
        for index, panel in enumerate(panels):  # parents come before their children
            first_resource[panel.name] = _FIRST_PANEL_RESOURCE + 3 * index
            above = () if panel.parent is None else path[panel.parent]
            path[panel.name] = (panel.name, *above)
        return cls(panels, first_resource, path)

    def above(self, evse: EvseState) -> tuple[str, ...]:
        """The panels an EVSE's current passes through."""
        return () if evse.panel is None else self.path[evse.panel]

    def resources(self, evse: EvseState) -> tuple[int, ...]:
        """The phase resources one ampere of this EVSE loads: site phases, then panels."""
        site_phases = evse.site_phases
        found = self.known.get((evse.panel, site_phases))
        if found is None:
            own = [site_phase - 1 for site_phase in site_phases]
            for name in self.above(evse):
                first = self.first_resource[name]
                own.extend(first + site_phase - 1 for site_phase in site_phases)
            found = self.known[evse.panel, site_phases] = tuple(own)
        return found

    def below(self, evses: Iterable[EvseState], name: str) -> list[EvseState]:
        return [evse for evse in evses if name in self.above(evse)]

    def limits(self, state: SiteState) -> list[float]:
        """What may flow per resource: cap - margin, the power placeholder, fuse - margin."""
        limits = [cap - state.margin for cap in state.phase_cap]
        if self.panels:
            limits.append(math.inf)  # the power budget is handled on its own
            for panel in self.panels:
                limits.extend(fuse - state.margin for fuse in panel.site_fuse())
        return limits

    def totals(self, draws: Iterable[tuple[EvseState, float]]) -> list[float]:
        """Current per phase resource of EVSEs drawing `amps` each, as exact sums."""
        size = _FIRST_PANEL_RESOURCE + 3 * len(self.panels) if self.panels else len(SITE_PHASES)
        amounts: list[list[float]] = [[] for _ in range(size)]
        for evse, amps in draws:
            for resource in self.resources(evse):
                amounts[resource].append(amps)
        return [math.fsum(amount) for amount in amounts]


def allocate(state: SiteState) -> Allocation:
    """Decide every EVSE's current limit for this moment. Same state in, same allocation out."""
    reading = state.meter
    if reading is None or state.meter_is_stale:
        return _safe_allocation(state)
    return _balanced_allocation(state, reading)


def check_safe_currents_fit(
    phase_cap: PhaseValues,
    margin: float,
    evses: Iterable[EvseState],
    panels: tuple[PanelState, ...] = (),
) -> list[str]:
    """Problems that would let the safe allocation exceed cap - margin, or a panel's fuse -
    margin; empty when it fits.

    Meant for config load: with a stale meter every session gets its safe current at once.
    """
    evses = tuple(evses)
    problems = _safe_overdraw("", phase_cap, margin, evses)
    tree = FuseTree.of(panels)
    for panel in panels:
        below = tree.below(evses, panel.name)
        problems += _safe_overdraw(f"panel {panel.name} ", panel.site_fuse(), margin, below)
    return problems


def _safe_overdraw(
    where: str,
    phase_cap: PhaseValues,
    margin: float,
    evses: tuple[EvseState, ...] | list[EvseState],
) -> list[str]:
    totals = _phase_totals((evse, _safe_draw(evse)) for evse in evses)
    problems = []
    for phase, total, cap in zip(SITE_PHASES, totals, phase_cap, strict=True):
        if total > cap - margin + _EPSILON:
            on_phase = [evse for evse in evses if phase in evse.site_phases]
            count = sum(1 for evse in on_phase if evse.safe_current and evse.obeys)
            unlimited = sum(1 for evse in on_phase if not evse.obeys)
            beside = f" and {unlimited} uncontrollable EVSEs at their maximum" if unlimited else ""
            rating = "fuse" if where else "phase cap"
            problems.append(
                f"{where}L{phase}: safe currents of {count} EVSEs{beside} sum to {total:.1f} A, "
                f"more than the {rating} {cap:.1f} A minus margin {margin:.1f} A = "
                f"{cap - margin:.1f} A"
            )
    return problems


def _safe_draw(evse: EvseState) -> float:
    """What an EVSE may draw while the meter is stale: an EVSE the LC cannot limit, its max."""
    return evse.safe_current if evse.obeys else evse.max_current


@dataclass(slots=True, eq=False)
class _Claim:
    """One obeying session's bid for current while allocating (mutable scratch)."""

    evse: EvseState
    loads: tuple[tuple[int, float], ...]
    """(resource, units per ampere): 1 A per site phase it loads, volts on the power budget."""
    offer_min: float
    fill_max: float
    """Where water-filling stops: the effective max if charging, else offer_min (a reserve)."""
    current: float = 0.0
    rising: bool = False


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
    over_cap = tuple(phase for phase in SITE_PHASES if left[phase - 1] < -_EPSILON)
    draws: list[tuple[EvseState, float]] = [(evse, evse.max_current) for evse in unlimited]
    for evse in unlimited:
        limits[evse.evse_id] = _offer(evse, evse.safe_current)
    steered = sorted(
        (evse for evse in sessions if evse.obeys), key=lambda e: (-e.priority, e.evse_id)
    )
    for evse in steered:
        resources = tree.resources(evse)
        limit = _offer(evse, evse.safe_current)
        if limit > 0 and not _fits(resources, limit, left):
            limit = _offer(evse, evse.min_current)
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
    planned = _phase_totals(draws)
    return Allocation(
        mode=Mode.SAFE,
        limits=limits,
        paused=paused,
        planned=planned,
        headroom=None,
        planned_power_kw=_watts(planned, _nominal_voltages(state)) / 1000,
        power_headroom_kw=None,
        over_cap_phases=over_cap,
    )


def _fits(resources: tuple[int, ...], amps: float, left: list[float]) -> bool:
    return all(amps <= left[resource] + _EPSILON for resource in resources)


def _balanced_allocation(state: SiteState, reading: MeterReading) -> Allocation:
    voltages = reading.voltages or _nominal_voltages(state)
    before = state.base_load_before
    base = _base_load(
        state.evses,
        reading.currents,
        None if before is None else before.site,
        _per_phase(cap - state.margin for cap in state.phase_cap),
    )
    headroom = _per_phase(
        cap - state.margin - load for cap, load in zip(state.phase_cap, base, strict=True)
    )
    power_headroom_w = None
    if state.power_cap_kw is not None:
        power_headroom_w = state.power_cap_kw * 1000 - _watts(base, voltages)

    tree = FuseTree.of(state.panels)
    unmetered = {panel.name for panel in state.panels if state.panel_meter_is_stale(panel)}
    limits: dict[str, float] = {}
    paused: dict[str, PauseReason] = {}
    disobedient: list[tuple[EvseState, float]] = []
    claims: list[_Claim] = []
    loads_by_wiring: dict[tuple[str | None, tuple[int, ...]], tuple[tuple[int, float], ...]] = {}
    for evse in state.evses:
        if evse.session is SessionState.IDLE:
            limits[evse.evse_id] = 0.0
            continue
        offer_min, offer_max = _offer_range(evse)
        on_safe_current = not unmetered.isdisjoint(tree.above(evse))
        if on_safe_current:
            offer_max = _offer(evse, evse.safe_current)
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
                loads = loads_by_wiring[shared] = _loads(
                    evse, voltages, tree, with_power=with_power
                )
            claims.append(_Claim(evse, loads, offer_min, fill_max))

    fixed = _phase_totals(disobedient)
    capacity = [room - load for room, load in zip(headroom, fixed, strict=True)]
    if power_headroom_w is not None:
        capacity.append(power_headroom_w - _watts(fixed, voltages))
    panel_base = _panel_base_loads(state, tree, unmetered)
    panel_headroom = {
        panel.name: _per_phase(
            fuse - state.margin - load
            for fuse, load in zip(panel.site_fuse(), panel_base[panel.name], strict=True)
        )
        for panel in tree.panels
    }
    if tree.panels:
        if len(capacity) == _POWER:
            capacity.append(math.inf)  # no kW cap: a budget nobody loads
        fixed_by_resource = tree.totals(disobedient)[_FIRST_PANEL_RESOURCE:]
        rooms = [room for panel in tree.panels for room in panel_headroom[panel.name]]
        capacity.extend(room - load for room, load in zip(rooms, fixed_by_resource, strict=True))
    overloaded = [free < -_EPSILON for free in capacity]
    steered_room = tuple(
        math.inf if resource == _POWER else free for resource, free in enumerate(capacity)
    )

    claims.sort(key=partial(_turn_order, state.now, state.rotation_period_s))
    for _, tier in groupby(claims, key=lambda claim: claim.evse.priority):
        admitted = [claim for claim in tier if _admit(claim, capacity)]
        _water_fill(admitted, capacity)
    for claim in claims:
        evse_id = claim.evse.evse_id
        limits[evse_id] = floor_to_tenth(claim.current)
        if not limits[evse_id]:
            too_much_base = any(overloaded[resource] for resource, _ in claim.loads)
            paused[evse_id] = PauseReason.OVERLOAD if too_much_base else PauseReason.NO_CAPACITY

    planned = _phase_totals(
        disobedient + [(claim.evse, limits[claim.evse.evse_id]) for claim in claims]
    )
    return Allocation(
        mode=Mode.OVERLOAD if any(overloaded) else Mode.NORMAL,
        limits=limits,
        paused=paused,
        planned=planned,
        headroom=headroom,
        planned_power_kw=_watts(planned, voltages) / 1000,
        power_headroom_kw=None if power_headroom_w is None else power_headroom_w / 1000,
        panel_headroom=panel_headroom,
        steered_room=steered_room,
        base=BaseLoads(base, panel_base),
    )


def _panel_base_loads(
    state: SiteState, tree: FuseTree, unmetered: set[str]
) -> dict[str, PhaseValues]:
    """The base load per panel and site phase.

    The base load is what a panel's sub-meter sees beyond its EVSEs. A panel without a (fresh)
    sub-meter carries the base loads its sub-metered panels below measured, nothing of its own.
    """
    before = {} if state.base_load_before is None else state.base_load_before.panels
    base: dict[str, PhaseValues] = {}
    for panel in reversed(tree.panels):  # children before their parents
        currents = panel.site_currents()
        if currents is not None and panel.name not in unmetered:
            room = _per_phase(fuse - state.margin for fuse in panel.site_fuse())
            below = tree.below(state.evses, panel.name)
            base[panel.name] = _base_load(below, currents, before.get(panel.name), room)
        else:
            children = [base[child.name] for child in tree.panels if child.parent == panel.name]
            base[panel.name] = _per_phase(
                map(math.fsum, zip(*children, (0.0, 0.0, 0.0), strict=True))
            )
    return base


def _base_load(
    evses: Iterable[EvseState],
    currents: PhaseValues,
    before: PhaseValues | None,
    room: PhaseValues,
) -> PhaseValues:
    """Current per phase that is not the managed EVSEs', under a meter reading `currents`.

    A meter is read every period, a charger (or a chained LC) reports its draw every so many
    seconds: while a car follows a raised limit, a fresh reading minus an older report counts
    the car's new current as base load, and the decision cuts the others (a whole sub-board,
    behind a chained LC) for the seconds until the next report. So a rise over the previous
    decision's base load (`before`) is put down to the cars measured before they could follow
    their limit, as far as those limits (in force, so planned within the fuses) explain it;
    only the rest is base load.

    Why that is safe: it never makes more room than the previous decision saw (the result is at
    least the lower of the reports' base load and `before`), and the limits it counts on were
    planned within the fuses already. At worst a base load that rose at the very moment a car
    was raised is missed until the car reached its limit (then the reading explains itself and
    the rise shows) or reported again; meanwhile the phase can go above rating - margin by no
    more than that rise, which the next reading shows. Where the meter reads above rating -
    margin (`room`), the reports are taken as they are, so a real overload is cut at once.

    Where a charger reports no current, a charging session is assumed to draw its limit in force
    and any other session nothing: those states draw ~0, and a wrong guess then only inflates the
    base load. Clamped at 0 so that generation on site never counts as headroom: it can vanish
    faster than the loop reacts.
    """
    reported: list[list[float]] = [[] for _ in SITE_PHASES]
    on_the_way: list[list[float]] = [[] for _ in SITE_PHASES]  # beyond the reports, at most
    for evse in evses:
        for charger_phase, site_phase in enumerate(evse.phase_map):
            measured = evse.measured[charger_phase]
            if measured is not None:
                reported[site_phase - 1].append(abs(measured))
                if evse.measured_before_limit and site_phase in evse.site_phases:
                    on_the_way[site_phase - 1].append(max(0.0, evse.allocated - abs(measured)))
            elif evse.session is SessionState.CHARGING and site_phase in evse.site_phases:
                reported[site_phase - 1].append(evse.allocated)
    base = []
    for phase, site in enumerate(currents):
        by_reports = max(0.0, abs(site) - math.fsum(reported[phase]))
        if before is None or abs(site) > room[phase]:
            base.append(by_reports)
            continue
        at_least = max(0.0, by_reports - math.fsum(on_the_way[phase]))
        base.append(min(by_reports, max(at_least, before[phase])))
    return _per_phase(base)


def _turn_order(now: float, rotation_period_s: float, claim: _Claim) -> tuple[int, int, float, str]:
    """Sort key: higher priority first, then rotation turn, then EVSE id for determinism."""
    evse = claim.evse
    if evse.charging_since is None:
        waiting_since = now if evse.paused_since is None else evse.paused_since
        return (-evse.priority, _WAITING, waiting_since, evse.evse_id)
    group = _TURN_OVER if now - evse.charging_since >= rotation_period_s else _IN_TURN
    return (-evse.priority, group, -evse.charging_since, evse.evse_id)


def _admit(claim: _Claim, capacity: list[float]) -> bool:
    """Reserve the claim's minimum if it fits on every resource it loads."""
    if any(
        capacity[resource] < units * claim.offer_min - _EPSILON for resource, units in claim.loads
    ):
        return False
    for resource, units in claim.loads:
        capacity[resource] -= units * claim.offer_min
    claim.current = claim.offer_min
    return True


def _water_fill(claims: list[_Claim], capacity: list[float]) -> None:
    """Raise admitted claims from their minimum along one common level, consuming `capacity`.

    Progressive filling, i.e. max-min fairness over several resources: the level rises; a claim
    joins once the level reaches its minimum, and stops at its fill_max or when a resource it
    loads runs out. Event-driven (the level jumps from one event to the next), so O(n log n).
    """
    pending = sorted((c for c in claims if c.fill_max > c.current), key=attrgetter("current"))
    rates = [0.0] * len(capacity)  # units consumed per ampere of level rise, by rising claims
    rising_per_resource = [0] * len(capacity)
    users: list[list[_Claim]] = [[] for _ in capacity]
    exhausted = [free <= _EPSILON for free in capacity]
    ceilings: list[tuple[float, int, _Claim]] = []  # (fill_max, join order, claim), a min-heap

    def stop(claim: _Claim, current: float) -> None:
        claim.rising = False
        # A claim joins up to _EPSILON below its minimum; it must never end below it.
        claim.current = max(claim.current, current)
        for resource, units in claim.loads:
            rising_per_resource[resource] -= 1
            # Reset rather than subtract down to float noise once nobody is left.
            rates[resource] = rates[resource] - units if rising_per_resource[resource] else 0.0

    level = pending[0].current if pending else 0.0
    joined = 0
    while True:
        while joined < len(pending) and pending[joined].current <= level + _EPSILON:
            claim = pending[joined]
            joined += 1
            if any(exhausted[resource] for resource, _ in claim.loads):
                continue
            claim.rising = True
            for resource, units in claim.loads:
                rates[resource] += units
                rising_per_resource[resource] += 1
                users[resource].append(claim)
            heapq.heappush(ceilings, (claim.fill_max, joined, claim))
        while ceilings and not ceilings[0][2].rising:
            heapq.heappop(ceilings)
        if not ceilings:
            if joined == len(pending):
                return
            level = pending[joined].current
            continue

        target = ceilings[0][0]
        if joined < len(pending):
            target = min(target, pending[joined].current)
        for resource, free in enumerate(capacity):
            if rising_per_resource[resource]:
                target = min(target, level + max(free, 0.0) / rates[resource])
        for resource in range(len(capacity)):
            capacity[resource] -= rates[resource] * (target - level)
        level = target

        while ceilings and ceilings[0][0] <= level + _EPSILON:
            _, _, claim = heapq.heappop(ceilings)
            if claim.rising:
                stop(claim, claim.fill_max)
        for resource, free in enumerate(capacity):
            if rising_per_resource[resource] and free <= _EPSILON:
                exhausted[resource] = True
                for claim in users[resource]:
                    if claim.rising:
                        stop(claim, level)


def _loads(
    evse: EvseState, voltages: PhaseValues, tree: FuseTree, *, with_power: bool
) -> tuple[tuple[int, float], ...]:
    resources = tree.resources(evse)
    phase_count = len(evse.site_phases)
    loads = [(resource, 1.0) for resource in resources[:phase_count]]
    if with_power:
        loads.append((_POWER, sum(voltages[site_phase - 1] for site_phase in evse.site_phases)))
    loads.extend((resource, 1.0) for resource in resources[phase_count:])
    return tuple(loads)


def _phase_totals(draws: Iterable[tuple[EvseState, float]]) -> PhaseValues:
    """Current per site phase of EVSEs drawing `amps` each; exact sums, so EVSE order is moot."""
    totals: list[list[float]] = [[] for _ in SITE_PHASES]
    for evse, amps in draws:
        for site_phase in evse.site_phases:
            totals[site_phase - 1].append(amps)
    return _per_phase(math.fsum(phase) for phase in totals)


def _watts(currents: PhaseValues, voltages: PhaseValues) -> float:
    """Apparent power from magnitudes: never below the real power, so a safe stand-in for it."""
    return sum(amps * volts for amps, volts in zip(currents, voltages, strict=True))


def _per_phase(values: Iterable[float]) -> PhaseValues:
    first, second, third = values
    return (first, second, third)


def _nominal_voltages(state: SiteState) -> PhaseValues:
    return (state.nominal_voltage, state.nominal_voltage, state.nominal_voltage)


def _offer_range(evse: EvseState) -> tuple[float, float]:
    """Lowest and highest limit that may be sent, on the 0.1 A grid. Empty (lowest > highest) when
    the CSMS allows less than the car's minimum."""
    effective_max = (
        evse.max_current if evse.csms_limit is None else min(evse.max_current, evse.csms_limit)
    )
    return ceil_to_tenth(evse.min_current), floor_to_tenth(effective_max)


def _offer(evse: EvseState, amps: float) -> float:
    """The limit to send for a wish of `amps`: within the offer range, else 0."""
    lowest, highest = _offer_range(evse)
    limit = min(floor_to_tenth(amps), highest)
    return limit if limit >= lowest else 0.0
