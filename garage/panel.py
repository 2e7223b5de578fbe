"""A distribution panel of a simulated site: a sub-board with its own fuse, feeding chargers (or
panels) through their phase rotations, with a base load of its own (lights, ventilation) and
optionally a sub-meter the load balancer reads over Modbus.

The site sees a panel as one more thing drawing current (wired to it with the panel's own
rotation). Every sample is kept (bounded), so tests can judge the fuse from what the panel
really carried, not from what the LC planned.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

from garage.evse import ThreePhases
from garage.site import DrawsCurrent, PhaseRotation, TimedCurrents, seconds_above
from modbus.simulator import SimulatedMeter
from ocpp_knowledge.composite import NOMINAL_VOLTAGE_V


class SimulatedPanel:
    def __init__(
        self,
        name: str,
        fed: Sequence[tuple[DrawsCurrent, PhaseRotation]],
        base_load_a: ThreePhases = (0.0, 0.0, 0.0),
        *,
        meter: SimulatedMeter | None = None,
        voltage_v: float = NOMINAL_VOLTAGE_V,
        history: int = 36_000,
    ) -> None:
        """`fed`: what hangs from it, each with the panel phases its phases 1, 2, 3 are on."""
        self.name = name
        self.fed = list(fed)
        self.base_load_a = base_load_a
        self.meter = meter
        self.voltage_v = voltage_v
        self.history: deque[TimedCurrents] = deque(maxlen=history)

    def phase_currents(self) -> ThreePhases:
        """Current per panel phase: its base load plus everything it feeds."""
        panel = list(self.base_load_a)
        for fed, rotation in self.fed:
            for panel_phase, current in zip(rotation, fed.phase_currents(), strict=True):
                panel[panel_phase - 1] += current
        first, second, third = panel
        return first, second, third

    def sample(self) -> TimedCurrents:
        """Record the panel's current now (and its sub-panels'), and write it to its meter."""
        for fed, _ in self.fed:
            if isinstance(fed, SimulatedPanel):
                fed.sample()
        sample = TimedCurrents(time.monotonic(), self.phase_currents())
        self.history.append(sample)
        if self.meter is not None:
            volts = self.voltage_v
            self.meter.set_reading(currents=sample.currents, voltages=(volts, volts, volts))
        return sample

    def seconds_above(self, limit_a: float, since: float | None = None) -> float:
        """How long any phase carried more than `limit_a` (see SimulatedSite.seconds_above)."""
        return seconds_above(self.history, limit_a, since)
