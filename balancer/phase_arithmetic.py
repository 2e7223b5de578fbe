"""Sums over the site phases for the allocation: currents per phase and the power they make."""

from __future__ import annotations

import math
from collections.abc import Iterable

from balancer.site import SITE_PHASES, EvseState, PhaseValues, SiteState

EPSILON = 1e-6
"""Float noise allowance, in A (phases) or W (power)."""


def phase_totals(draws: Iterable[tuple[EvseState, float]]) -> PhaseValues:
    """Current per site phase of EVSEs drawing `amps` each; exact sums, so EVSE order is moot."""
    totals: list[list[float]] = [[] for _ in SITE_PHASES]
    for evse, amps in draws:
        for site_phase in evse.site_phases:
            totals[site_phase - 1].append(amps)
    return per_phase(math.fsum(phase) for phase in totals)


def watts(currents: PhaseValues, voltages: PhaseValues) -> float:
    """Apparent power from magnitudes: never below the real power, so a safe stand-in for it."""
    return sum(amps * volts for amps, volts in zip(currents, voltages, strict=True))


def per_phase(values: Iterable[float]) -> PhaseValues:
    first, second, third = values
    return (first, second, third)


def nominal_voltages(state: SiteState) -> PhaseValues:
    return (state.nominal_voltage, state.nominal_voltage, state.nominal_voltage)
