"""From one decision to the next (pure): cut at once, raise slowly, ignore small changes,
and keep the turn bookkeeping that lets paused sessions rotate."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from balancer.config import LoopSettings

Turns = dict[str, tuple[float | None, float | None]]  # key -> (charging_since, paused_since)


@dataclass(frozen=True, slots=True)
class Commanded:
    """The limit last sent to an EVSE and when."""

    limit: float
    at: float


def next_limit(
    target: float,
    previous: Commanded | None,
    min_current: float,
    now: float,
    loop: LoopSettings,
    urgent: bool,
) -> float:
    """The limit to command now, given the allocator's `target`.

    Decreases apply at once when `urgent` (the site is above cap - margin) or beyond the
    deadband; increases wait until the charger could have reacted to the last change, then
    move a fraction of the way (never into 0 < I < min_current).
    """
    if previous is None:
        return target
    current = previous.limit
    if target < current:
        if urgent or target == 0 or current - target >= loop.deadband_a:
            return target
        return current
    if target - current < max(loop.deadband_a, 0.1) and current != 0:
        return current
    if now - previous.at < loop.reaction_time_s:
        return current
    step = current + max((target - current) * loop.raise_fraction, loop.deadband_a, 0.1)
    limit = _floor_tenth(min(target, max(step, min_current)))
    # Rounding down must not drop below a minimum that is off the 0.1 A grid.
    return limit if limit >= min_current else min(target, _ceil_tenth(min_current))


# The 1e-6 absorbs binary float noise (6.1 + 0.1 = 6.1999...) before rounding to 0.1 A.
def _floor_tenth(amps: float) -> float:
    return math.floor(amps * 10 + 1e-6) / 10


def _ceil_tenth(amps: float) -> float:
    return math.ceil(amps * 10 - 1e-6) / 10


def next_turns(
    turns: Mapping[str, tuple[float | None, float | None]],
    limits: Mapping[str, float],
    sessions: set[str],
    now: float,
) -> Turns:
    """Update (charging_since, paused_since) for every EVSE with a session."""
    updated: Turns = {}
    for key in sessions:
        charging_since, paused_since = turns.get(key, (None, None))
        if limits.get(key, 0.0) > 0:
            updated[key] = (charging_since if charging_since is not None else now, None)
        else:
            updated[key] = (None, paused_since if paused_since is not None else now)
    return updated
