"""The charging profiles a simulated charger has accepted, kept by the OCPP rules for
SetChargingProfile and ClearChargingProfile. No I/O: the protocol handlers call it.

Acceptance (both versions): the connector exists; purpose, stack level, period count, rate unit
and profile count are within the capabilities; a charger-maximum profile is set on
connector 0 only; a TxProfile on a connector with a running transaction, naming that transaction
if it names one; a Recurring profile has a startSchedule and a recurrency.
Replacement: a profile with the same id replaces the old one. In 1.6 the same stack level and
purpose on the same connector also replaces it; 2.0.1 rejects that instead (K01.FR.06, .39).
2.0.1 also rejects: a TxProfile without transactionId (K01.FR.03), a transactionId on another
purpose, a Relative ChargingStationMaxProfile (K01.FR.38), Absolute/Recurring without
startSchedule and Relative with one (K01.FR.40/41), and ChargingStationExternalConstraints, which
the CSMS may not set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ocpp_knowledge.profiles import ChargingProfile, Kind, Purpose, RateUnit, Transaction

ChargePointVersion = Literal["1.6", "2.0.1"]
"""The OCPP version a simulated charge point speaks, as the ocpp package names it."""


@dataclass(frozen=True, slots=True)
class SmartChargingCapabilities:
    """What the charger advertises (1.6 GetConfiguration keys, 2.0.1 SmartChargingCtrlr) and
    enforces."""

    max_stack_level: int = 10
    """1.6 ChargeProfileMaxStackLevel, 2.0.1 ProfileStackLevel."""
    max_periods: int = 24
    """1.6 ChargingScheduleMaxPeriods, 2.0.1 PeriodsPerSchedule."""
    max_profiles: int = 20
    """1.6 MaxChargingProfilesInstalled."""
    rate_units: tuple[RateUnit, ...] = (RateUnit.AMPERE, RateUnit.WATT)
    """1.6 ChargingScheduleAllowedChargingRateUnit, 2.0.1 RateUnit."""
    purposes: tuple[Purpose, ...] = tuple(Purpose)
    """Purposes it accepts; others are Rejected (many chargers take only the charger max)."""


class ProfileStore:
    """Installed profiles of a charger with one connector (id 1; 0 is the charger itself)."""

    CONNECTOR_IDS = (0, 1)

    def __init__(
        self, version: ChargePointVersion, capabilities: SmartChargingCapabilities
    ) -> None:
        self.version = version
        self.capabilities = capabilities
        self._profiles: dict[int, ChargingProfile] = {}

    @property
    def profiles(self) -> tuple[ChargingProfile, ...]:
        return tuple(self._profiles.values())

    def install(self, profile: ChargingProfile, transaction: Transaction | None) -> str | None:
        """Install `profile`; return None when accepted, else why it was rejected."""
        rejection = self._check(profile, transaction) or self._check_version_rules(profile)
        if rejection is not None:
            return rejection
        kept = {
            profile_id: installed
            for profile_id, installed in self._profiles.items()
            if profile_id != profile.profile_id and not self._replaced_by(installed, profile)
        }
        if self.version == "2.0.1":
            clash = next((p for p in kept.values() if _same_slot(p, profile)), None)
            if clash is not None:
                return f"profile {clash.profile_id} has the same stack level and purpose"
        if len(kept) >= self.capabilities.max_profiles:
            return f"already {len(kept)} profiles installed"
        kept[profile.profile_id] = profile
        self._profiles = kept
        return None

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> int:
        """ClearChargingProfile: by id, else by every criterion given (none given: all).
        Returns how many profiles were removed (0 answers Unknown)."""

        def matches(profile: ChargingProfile) -> bool:
            if profile_id is not None:
                return profile.profile_id == profile_id
            return (
                connector_id in (None, profile.connector_id)
                and purpose in (None, profile.purpose)
                and stack_level in (None, profile.stack_level)
            )

        removed = [p.profile_id for p in self._profiles.values() if matches(p)]
        for removed_id in removed:
            del self._profiles[removed_id]
        return len(removed)

    def end_transaction(self) -> None:
        """A TxProfile lives as long as its transaction (1.6: "SHOULD be deleted after")."""
        self.clear(purpose=Purpose.TX)

    def _check(self, profile: ChargingProfile, transaction: Transaction | None) -> str | None:
        capabilities = self.capabilities
        schedule = profile.schedule
        if profile.connector_id not in self.CONNECTOR_IDS:
            return f"no connector {profile.connector_id}"
        if profile.purpose not in capabilities.purposes:
            return f"{profile.purpose.value} profiles not supported"
        if not 0 <= profile.stack_level <= capabilities.max_stack_level:
            return f"stack level {profile.stack_level} outside 0..{capabilities.max_stack_level}"
        if not 1 <= len(schedule.periods) <= capabilities.max_periods:
            return f"{len(schedule.periods)} periods, at most {capabilities.max_periods}"
        if schedule.rate_unit not in capabilities.rate_units:
            return f"rate unit {schedule.rate_unit} not supported"
        if profile.purpose is Purpose.STATION_MAX and profile.connector_id != 0:
            return "a charger maximum profile belongs on connector 0"
        if profile.purpose is Purpose.TX:
            if profile.connector_id == 0:
                return "a TxProfile belongs on a connector, not 0"
            if transaction is None:
                return "no transaction on the connector"
            if profile.transaction_id not in (None, transaction.transaction_id):
                return f"transaction {profile.transaction_id} is not running"
        if profile.kind is Kind.RECURRING and (
            schedule.start is None or profile.recurrency is None
        ):
            return "a Recurring profile needs startSchedule and recurrencyKind"
        return None

    def _check_version_rules(self, profile: ChargingProfile) -> str | None:
        if self.version != "2.0.1":
            return None
        has_start = profile.schedule.start is not None
        if profile.purpose is Purpose.EXTERNAL_CONSTRAINTS:
            return "ChargingStationExternalConstraints is not set by the CSMS"
        if profile.purpose is Purpose.TX and profile.transaction_id is None:
            return "a TxProfile needs a transactionId"
        if profile.purpose is not Purpose.TX and profile.transaction_id is not None:
            return "only a TxProfile has a transactionId"
        if profile.purpose is Purpose.STATION_MAX and profile.kind is Kind.RELATIVE:
            return "a ChargingStationMaxProfile cannot be Relative"
        if profile.kind is Kind.RELATIVE and has_start:
            return "a Relative profile has no startSchedule"
        if profile.kind is Kind.ABSOLUTE and not has_start:
            return "an Absolute profile needs startSchedule"
        return None

    def _replaced_by(self, installed: ChargingProfile, new: ChargingProfile) -> bool:
        return self.version == "1.6" and _same_slot(installed, new)


def _same_slot(a: ChargingProfile, b: ChargingProfile) -> bool:
    """Same stack level and purpose on the same connector. (TxProfiles all belong to the running
    transaction: they are removed when it ends.)"""
    return (
        a.stack_level == b.stack_level
        and a.purpose is b.purpose
        and a.connector_id == b.connector_id
    )
