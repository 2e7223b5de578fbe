"""The grid connection of a simulated site: base load plus every charger, phase by phase, written
to a simulated meter the load balancer reads over Modbus.

Chargers are wired with a phase rotation, as installers do to spread 1-phase cars: rotation
(2, 3, 1) means charger phase 1 is on site phase 2, charger phase 2 on site phase 3 and charger
phase 3 on site phase 1. Every sample is kept (bounded) so tests can measure overshoot.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from garage.evse import ThreePhases
from modbus.simulator import SimulatedMeter
from ocpp_knowledge.composite import NOMINAL_VOLTAGE_V

PhaseRotation = tuple[int, int, int]

SITE_PHASES = (1, 2, 3)


class DrawsCurrent(Protocol):
    """Anything on the site that draws current per its own phase 1..3 (a charger)."""

    def phase_currents(self) -> ThreePhases: ...


@runtime_checkable
class SubBoard(Protocol):
    """A distribution panel (garage.panel): it records its own samples when the site does."""

    def phase_currents(self) -> ThreePhases: ...

    def sample(self) -> TimedCurrents: ...


@dataclass(frozen=True, slots=True)
class TimedCurrents:
    """The phase currents through the grid connection (or a panel's feed) at one moment."""

    at: float
    """time.monotonic() seconds, the clock `modbus.reader.PolledReading.taken_at` uses."""
    currents: ThreePhases
    """A per site phase L1, L2, L3."""


class SimulatedSite:
    def __init__(
        self,
        meter: SimulatedMeter,
        chargers: Sequence[tuple[DrawsCurrent, PhaseRotation]],
        base_load: Callable[[float], ThreePhases],
        *,
        update_period_s: float = 0.1,
        voltage_v: float = NOMINAL_VOLTAGE_V,
        history: int = 36_000,
    ) -> None:
        """`base_load(t)`: A per site phase, t = seconds since `start()`. `history`: samples
        kept (the default is an hour at the default period)."""
        for _, rotation in chargers:
            if sorted(rotation) != list(SITE_PHASES):
                raise ValueError(f"phase rotation {rotation} is not a permutation of 1, 2, 3")
        self.meter = meter
        self.chargers = list(chargers)
        self.base_load = base_load
        self.update_period_s = update_period_s
        self.voltage_v = voltage_v
        self.history: deque[TimedCurrents] = deque(maxlen=history)
        self.energy_wh = 0.0
        """Import counter the meter shows; starts at 0."""
        self._started_at = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def currents(self, elapsed_s: float) -> ThreePhases:
        """Grid connection current per site phase: base load plus each charger through its
        rotation."""
        site = list(self.base_load(elapsed_s))
        for charger, rotation in self.chargers:
            for site_phase, current in zip(rotation, charger.phase_currents(), strict=True):
                site[site_phase - 1] += current
        first, second, third = site
        return first, second, third

    def seconds_above(self, limit_a: float, since: float | None = None) -> float:
        """How long any phase was above `limit_a` (sample periods summed), from monotonic
        time `since` on (None: all kept samples)."""
        return seconds_above(self.history, limit_a, since)

    async def start(self) -> None:
        """Write the first sample at once, then every `update_period_s`."""
        if self._task is not None:
            raise RuntimeError("the site is already running")
        self._started_at = time.monotonic()
        self.update()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def update(self) -> TimedCurrents:
        """Sample the site now and write it to the meter."""
        for charger, _ in self.chargers:
            if isinstance(charger, SubBoard):  # its own samples and sub-meter, in step
                charger.sample()
        now = time.monotonic()
        currents = self.currents(now - self._started_at)
        power_w = self.voltage_v * sum(currents)
        if self.history:
            hours = (now - self.history[-1].at) / 3600
            self.energy_wh += max(0.0, power_w) * hours  # import register: export is not counted
        sample = TimedCurrents(now, currents)
        self.history.append(sample)
        self.meter.set_reading(
            currents=currents,
            voltages=(self.voltage_v, self.voltage_v, self.voltage_v),
            power_w=power_w,
            energy_wh=self.energy_wh,
        )
        return sample

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.update_period_s)
            self.update()


def seconds_above(history: Iterable[TimedCurrents], limit_a: float, since: float | None) -> float:
    """How long any phase was above `limit_a` in these samples (periods summed), from
    monotonic time `since` on (None: all of them)."""
    samples = [s for s in history if since is None or s.at >= since]
    return sum(
        later.at - earlier.at
        for earlier, later in itertools.pairwise(samples)
        if max(earlier.currents) > limit_a
    )
