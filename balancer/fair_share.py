"""Priorities and the fair share: sessions admitted at their minimum tier by tier in turn
order, then water-filled max-min fair over every resource they load (see balancer/allocate.py's
docstring for the scheme)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from operator import attrgetter

from balancer.phase_arithmetic import EPSILON
from balancer.site import EvseState

# Turn-order groups within one priority tier.
_IN_TURN = 0
_WAITING = 1
_TURN_OVER = 2


@dataclass(slots=True, eq=False)
class Claim:
    """One obeying session's bid for current while allocating (mutable scratch)."""

    evse: EvseState
    loads: tuple[tuple[int, float], ...]
    """(resource, units per ampere): 1 A per site phase it loads, volts on the power budget."""
    offer_min: float
    fill_max: float
    """Where water-filling stops: the effective max if charging, else offer_min (a reserve)."""
    current: float = 0.0
    rising: bool = False


def turn_order(now: float, rotation_period_s: float, claim: Claim) -> tuple[int, int, float, str]:
    """Sort key: higher priority first, then rotation turn, then EVSE id for determinism."""
    evse = claim.evse
    if evse.charging_since is None:
        waiting_since = now if evse.paused_since is None else evse.paused_since
        return (-evse.priority, _WAITING, waiting_since, evse.evse_id)
    group = _TURN_OVER if now - evse.charging_since >= rotation_period_s else _IN_TURN
    return (-evse.priority, group, -evse.charging_since, evse.evse_id)


def admit(claim: Claim, capacity: list[float]) -> bool:
    """Reserve the claim's minimum if it fits on every resource it loads."""
    if any(
        capacity[resource] < units * claim.offer_min - EPSILON for resource, units in claim.loads
    ):
        return False
    for resource, units in claim.loads:
        capacity[resource] -= units * claim.offer_min
    claim.current = claim.offer_min
    return True


def water_fill(claims: list[Claim], capacity: list[float]) -> None:
    """Raise admitted claims from their minimum along one common level, consuming `capacity`.

    Progressive filling, i.e. max-min fairness over several resources: the level rises; a claim
    joins once the level reaches its minimum, and stops at its fill_max or when a resource it
    loads runs out. Event-driven (the level jumps from one event to the next), so O(n log n).
    """
    pending = sorted((c for c in claims if c.fill_max > c.current), key=attrgetter("current"))
    rates = [0.0] * len(capacity)  # units consumed per ampere of level rise, by rising claims
    rising_per_resource = [0] * len(capacity)
    users: list[list[Claim]] = [[] for _ in capacity]
    exhausted = [free <= EPSILON for free in capacity]
    ceilings: list[tuple[float, int, Claim]] = []  # (fill_max, join order, claim), a min-heap

    def stop(claim: Claim, current: float) -> None:
        claim.rising = False
        # A claim joins up to EPSILON below its minimum; it must never end below it.
        claim.current = max(claim.current, current)
        for resource, units in claim.loads:
            rising_per_resource[resource] -= 1
            # Reset rather than subtract down to float noise once nobody is left.
            rates[resource] = rates[resource] - units if rising_per_resource[resource] else 0.0

    level = pending[0].current if pending else 0.0
    joined = 0
    while True:
        while joined < len(pending) and pending[joined].current <= level + EPSILON:
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

        while ceilings and ceilings[0][0] <= level + EPSILON:
            _, _, claim = heapq.heappop(ceilings)
            if claim.rising:
                stop(claim, claim.fill_max)
        for resource, free in enumerate(capacity):
            if rising_per_resource[resource] and free <= EPSILON:
                exhausted[resource] = True
                for claim in users[resource]:
                    if claim.rising:
                        stop(claim, level)
