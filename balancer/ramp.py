"""From one decision to the next (pure): cut at once, raise slowly, ignore small changes,
and keep the turn bookkeeping that lets paused sessions rotate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from balancer.config import LoopSettings
from ocpp_knowledge.profiles import ceil_to_tenth, floor_to_tenth

Turns = dict[str, tuple[float | None, float | None]]  # key -> (charging_since, paused_since)


@dataclass(frozen=True, slots=True)
class Commanded:
    """The limit last sent to an EVSE and when; `was` is the one before it."""

    limit: float
    at: float
    was: float = 0.0

    def may_draw(self, now: float, reaction_time_s: float) -> float:
        """What the EVSE may still draw: a cut acts only once the charger and car reacted."""
        if self.was > self.limit and now - self.at < reaction_time_s:
            return self.was
        return self.limit


@dataclass(frozen=True, slots=True)
class Step:
    """One EVSE's change this period, as fit_into_headroom needs it."""

    proposed: float  # what next_limit decided
    target: float  # what the allocation wants
    previous: Commanded | None
    site_phases: tuple[int, ...]


def fit_into_headroom(
    steps: Mapping[str, Step],
    budget: tuple[float, float, float],
    now: float,
    reaction_time_s: float,
) -> dict[str, float]:
    """The limits to command so that what the EVSEs may draw fits `budget` per site phase.

    An EVSE may draw the higher of its new limit and a cut it has not reacted to yet, so a raise
    waits (keeps the previous limit) until the cuts that make room for it have acted; and cuts
    the deadband held back are made after all where their sum would not fit. Raises are held
    back largest first, deadband cuts made largest first; what cannot be fixed (pending cuts
    alone exceed the budget) is left as it is.
    """
    limits = {key: step.proposed for key, step in steps.items()}

    def drawing(key: str) -> float:
        previous = steps[key].previous
        pending = 0.0 if previous is None else previous.may_draw(now, reaction_time_s)
        return max(limits[key], pending)

    def over() -> set[int]:
        totals = [0.0, 0.0, 0.0]
        for key, step in steps.items():
            for phase in step.site_phases:
                totals[phase - 1] += drawing(key)
        return {p for p in (1, 2, 3) if totals[p - 1] > budget[p - 1] + _SLACK_A}

    def last(step: Step) -> float:
        return 0.0 if step.previous is None else step.previous.limit

    raises = sorted(
        (key for key, step in steps.items() if step.proposed > last(step)),
        key=lambda key: (last(steps[key]) - steps[key].proposed, key),
    )
    held_cuts = sorted(
        (key for key, step in steps.items() if step.proposed > step.target),
        key=lambda key: (steps[key].target - steps[key].proposed, key),
    )
    for key, fixed in [(key, last(steps[key])) for key in raises] + [
        (key, steps[key].target) for key in held_cuts
    ]:
        crowded = over()
        if not crowded:
            break
        if crowded & set(steps[key].site_phases):
            limits[key] = min(limits[key], fixed)
    return limits


_SLACK_A = 1e-6  # float noise


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
    limit = floor_to_tenth(min(target, max(step, min_current)))
    # Rounding down must not drop below a minimum that is off the 0.1 A grid.
    return limit if limit >= min_current else min(target, ceil_to_tenth(min_current))


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
