"""What a simulated charger knows behind its OCPP connection: its profiles, its transaction, its
EVSE and car. No I/O: the version-specific OCPP handlers read and change it, and every change is
handed to the EVSE model, which turns it into current (late, like a real car)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from garage.evse import Car, Evse, Situation, ThreePhases
from garage.profile_store import ChargePointVersion, ProfileStore, SmartChargingCapabilities
from ocpp_knowledge.composite import composite_schedule
from ocpp_knowledge.ocpp_time import Clock
from ocpp_knowledge.profiles import ChargingProfile, Purpose, RateUnit, Transaction, floor_to_tenth

DEFAULT_PHASES = 3


@dataclass(frozen=True, slots=True)
class MeterSample:
    """What the charger's own meter measures at one moment."""

    taken_at: datetime
    currents: ThreePhases
    """A per charger phase L1, L2, L3."""
    power_w: float
    energy_wh: float
    """The charger's import register."""


@dataclass(frozen=True, slots=True)
class CompositeScheduleReport:
    """A GetCompositeSchedule answer, before it takes a version's shape."""

    start: datetime
    duration_s: int
    rate_unit: RateUnit
    periods: tuple[tuple[int, float], ...]
    """(startPeriod s, limit) in `rate_unit`, one decimal as OCPP requires."""
    number_phases: int

    def schedule_periods(self) -> list[dict[str, Any]]:
        """chargingSchedulePeriod as the ocpp package takes it: the same in 1.6 and 2.0.1."""
        return [
            {"start_period": start, "limit": limit, "number_phases": self.number_phases}
            for start, limit in self.periods
        ]


class Station:
    def __init__(
        self,
        *,
        version: ChargePointVersion,
        evse: Evse,
        capabilities: SmartChargingCapabilities,
        smart_charging: bool,
        clock: Clock,
    ) -> None:
        self.version = version
        self.evse = evse
        self.smart_charging = smart_charging
        """False: the charger answers every smart-charging request with NotImplemented."""
        self.clock = clock
        self.store = ProfileStore(version, capabilities)
        self.rejections: list[str] = []
        """Why each rejected SetChargingProfile was rejected, oldest first."""
        self._transaction: Transaction | None = None
        self._car: Car | None = None

    @property
    def capabilities(self) -> SmartChargingCapabilities:
        return self.store.capabilities

    @property
    def transaction(self) -> Transaction | None:
        return self._transaction

    @property
    def car(self) -> Car | None:
        return self._car

    @property
    def profiles(self) -> tuple[ChargingProfile, ...]:
        return self.store.profiles

    def plug(self, car: Car) -> None:
        if self._car is not None:
            raise RuntimeError("a car is already plugged in")
        self._car = car
        self._changed()

    def unplug(self) -> None:
        self._car = None
        self._changed()

    def begin(self, transaction: Transaction) -> None:
        self._transaction = transaction
        self._changed()

    def end(self) -> None:
        self._transaction = None
        self.store.end_transaction()
        self._changed()

    def install(self, profile: ChargingProfile) -> bool:
        """SetChargingProfile: True when accepted."""
        rejection = self.store.install(profile, self._transaction)
        if rejection is not None:
            self.rejections.append(rejection)
            return False
        self._changed()
        return True

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """ClearChargingProfile: True when a profile was removed (Accepted), else Unknown."""
        removed = self.store.clear(
            profile_id=profile_id,
            connector_id=connector_id,
            purpose=purpose,
            stack_level=stack_level,
        )
        self._changed()
        return removed > 0

    def limit_a(self) -> float | None:
        """The composite limit in force now, A per phase (None: no profile limits)."""
        return self.evse.limit_a(self.clock())

    def phase_currents(self) -> ThreePhases:
        return self.evse.phase_currents(self.clock())

    def meter_sample(self) -> MeterSample:
        now = self.clock()
        currents = self.evse.phase_currents(now)
        return MeterSample(
            taken_at=now,
            currents=currents,
            power_w=self.evse.voltage_v * sum(currents),
            energy_wh=self.evse.energy_wh(now),
        )

    def composite_schedule(self, duration_s: int, rate_unit: RateUnit) -> CompositeScheduleReport:
        """What the charger expects to allow over the next `duration_s`: the composite limit,
        capped by (and, where no profile limits, equal to) the hardware maximum."""
        now = self.clock()
        phases = DEFAULT_PHASES if self._car is None else self._car.phases
        hardware_max = self.evse.hardware_max_current_a
        periods: list[tuple[int, float]] = []
        for period in composite_schedule(
            self.profiles, now, duration_s, transaction=self._transaction, phases=phases
        ):
            amps = hardware_max if period.limit_a is None else min(period.limit_a, hardware_max)
            rate = amps if rate_unit is RateUnit.AMPERE else amps * self.evse.voltage_v * phases
            rate = floor_to_tenth(rate)  # never above the limit
            start_s = int(period.offset_s)
            if periods and periods[-1][0] == start_s:
                periods.pop()  # two changes within one second: the later one stands
            if not periods or periods[-1][1] != rate:
                periods.append((start_s, rate))
        return CompositeScheduleReport(now, duration_s, rate_unit, tuple(periods), phases)

    def _changed(self) -> None:
        self.evse.change(Situation(self.profiles, self._transaction, self._car), self.clock())
