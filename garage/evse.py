"""The electrical side of one EVSE with a car: what current flows, and when.

The charger offers min(composite limit, car maximum, hardware maximum), or nothing below 6 A (the
lowest pilot signal, IEC 61851-1). A real car follows a new offer only seconds later (PWM update
spacing plus the car's own reaction, research notes §3.1-3.2): here the draw at time t is what was
offered at t - reaction delay, computed from the situation (profiles, transaction, car) as it was
then, so schedule expiries are followed late too. Unplugging stops the current at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ocpp_knowledge.composite import NOMINAL_VOLTAGE_V, composite_limit
from ocpp_knowledge.profiles import ChargingProfile, Transaction

ThreePhases = tuple[float, float, float]

MIN_CURRENT_A = 6.0


@dataclass(frozen=True, slots=True)
class Car:
    max_current_a: float
    """What the car's on-board charger takes at most, A per phase."""
    phases: Literal[1, 3] = 3
    """A 1-phase car draws on the charger's phase 1 only."""


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything the offered current depends on, as of one moment."""

    profiles: tuple[ChargingProfile, ...] = ()
    transaction: Transaction | None = None
    car: Car | None = None


class Evse:
    """One EVSE (connector 1) and the car on it, on the caller's clock."""

    def __init__(
        self,
        *,
        hardware_max_current_a: float = 32.0,
        reaction_delay_s: float = 2.0,
        draw_fraction: float = 1.0,
        obeys_profiles: bool = True,
        voltage_v: float = NOMINAL_VOLTAGE_V,
    ) -> None:
        if not 0.0 < draw_fraction <= 1.0:
            raise ValueError(f"draw_fraction {draw_fraction} is not in (0, 1]")
        self.hardware_max_current_a = hardware_max_current_a
        self.reaction_delay = timedelta(seconds=reaction_delay_s)
        self.draw_fraction = draw_fraction
        self.obeys_profiles = obeys_profiles
        self.voltage_v = voltage_v
        # Situations still needed to know the draw: the last one older than the reaction delay,
        # and every later one.
        self._history: list[tuple[datetime, Situation]] = []
        self._energy_wh = 0.0
        self._power_w = 0.0
        self._integrated_until: datetime | None = None

    @property
    def situation(self) -> Situation:
        return self._history[-1][1] if self._history else Situation()

    def change(self, situation: Situation, at: datetime) -> None:
        """From `at` on, the charger is in `situation` (a profile, transaction or car changed)."""
        self._integrate(at)  # close the energy interval at the old power
        self._history.append((at, situation))
        self._integrate(at)  # and sample the power of the new situation

    def limit_a(self, at: datetime, situation: Situation | None = None) -> float | None:
        """The composite limit in force at `at` (A per phase), None when nothing limits."""
        if situation is None:
            situation = self.situation
        car = situation.car
        return composite_limit(
            situation.profiles,
            at,
            transaction=situation.transaction,
            phases=None if car is None else car.phases,
            voltage_v=self.voltage_v,
        )

    def offer_a(self, situation: Situation, at: datetime) -> float:
        """The current the charger signals to the car in `situation` at `at`."""
        car = situation.car
        if car is None or situation.transaction is None:
            return 0.0
        offer = min(car.max_current_a, self.hardware_max_current_a)
        if not self.obeys_profiles:
            return offer
        limit = self.limit_a(at, situation)
        if limit is None:
            return offer
        return 0.0 if limit < MIN_CURRENT_A else min(offer, limit)

    def draw_a(self, now: datetime) -> float:
        """Current the car draws per phase it uses, at `now`."""
        if self.situation.car is None:
            return 0.0
        then = now - self.reaction_delay
        earlier = [index for index, (at, _) in enumerate(self._history) if at <= then]
        if not earlier:
            return 0.0
        del self._history[: earlier[-1]]
        return self.offer_a(self._history[0][1], then) * self.draw_fraction

    def phase_currents(self, now: datetime) -> ThreePhases:
        """Current per charger phase (L1, L2, L3 at the charger's terminals)."""
        self._integrate(now)
        return self._currents(now)

    def energy_wh(self, now: datetime) -> float:
        """Energy delivered since the EVSE was created (the charger's import register)."""
        self._integrate(now)
        return self._energy_wh

    def _currents(self, now: datetime) -> ThreePhases:
        car = self.situation.car
        draw = self.draw_a(now)
        return (draw, draw, draw) if car is not None and car.phases == 3 else (draw, 0.0, 0.0)

    def _integrate(self, now: datetime) -> None:
        # Each call closes the interval since the previous one at the power sampled then; callers
        # sample often (meter values, site updates), so the error stays small.
        if self._integrated_until is not None and now > self._integrated_until:
            hours = (now - self._integrated_until).total_seconds() / 3600
            self._energy_wh += self._power_w * hours
            self._integrated_until = now
        elif self._integrated_until is None:
            self._integrated_until = now
        self._power_w = self.voltage_v * sum(self._currents(now))
