"""The LC's charging profiles and capability queries, per protocol version (pure).

Two profiles per charger (K03 Local Smart Charging, 1.6 §3.13.4):
- the floor: a TxDefaultProfile on EVSE/connector 0 at the LC's stack level, without end,
  at the charger's safe current. If the LC dies, this is what the charger falls back to.
- the dynamic limit: a TxProfile for the running transaction one stack level higher, valid
  for a bounded duration and refreshed before it lapses, so a dead LC's limit expires.
A charger with one EVSE that refuses Tx profiles gets both as its charger maximum instead
(1.6 ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile): on EVSE 0, for no transaction,
the same stack levels and schedules. Limits are sent in A with numberPhases, or in W where the
charger accepts only W.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ocpp_knowledge.configuration import (
    MAX_STACK_LEVEL,
    RATE_UNITS,
    SMART_CHARGING_ENABLED,
    configuration_query,
    configuration_values,
    stack_level,
)
from ocpp_knowledge.profiles import (
    ChargingProfile,
    Purpose,
    RateUnit,
    profile_from_json,
    set_charging_profile_request,
)
from router.frames import OcppVersion

# What the LC reads of a charger's smart charging, in one call.
_CAPABILITIES = (SMART_CHARGING_ENABLED, MAX_STACK_LEVEL, RATE_UNITS)


@dataclass(frozen=True, slots=True)
class Capabilities:
    smart_charging: bool = True
    watts_only: bool = False
    max_stack_level: int | None = None


@dataclass(frozen=True, slots=True)
class ProfileTarget:
    """Where a profile goes and what it says, independent of the protocol version."""

    evse_id: int
    profile_id: int
    stack_level: int
    limit_a: float
    phases: int
    transaction_id: str | None = None  # None: the floor (TxDefaultProfile)
    duration_s: int | None = None
    start: datetime | None = None
    station_max: bool = False  # the charger maximum purpose instead of the Tx ones


def as_station_max(target: ProfileTarget) -> ProfileTarget:
    """The same limit as the charger maximum: on EVSE 0, for no transaction."""
    return replace(target, evse_id=0, transaction_id=None, station_max=True)


def capability_query(version: OcppVersion) -> tuple[str, dict[str, Any]]:
    return configuration_query(version is OcppVersion.V16, _CAPABILITIES)


def parse_capabilities(version: OcppVersion, answer: dict[str, Any]) -> Capabilities:
    v16 = version is OcppVersion.V16
    values = configuration_values(v16, _CAPABILITIES, answer)
    # 1.6 lists the units as Current and Power, 2.0.1 as A and W; none listed: amperes.
    amperes, watts = ("Current", "Power") if v16 else ("A", "W")
    units = {unit.strip() for unit in (values[RATE_UNITS] or amperes).split(",")}
    return Capabilities(
        smart_charging=(values[SMART_CHARGING_ENABLED] or "true").lower() != "false",
        watts_only=amperes not in units and watts in units,
        max_stack_level=stack_level(values[MAX_STACK_LEVEL]),
    )


def set_charging_profile(
    version: OcppVersion, target: ProfileTarget, watts_only: bool, voltage: float
) -> dict[str, Any]:
    """The SetChargingProfile payload for `target` in `version`'s shape."""
    limit = target.limit_a * voltage * target.phases if watts_only else target.limit_a
    return set_charging_profile_request(
        version is OcppVersion.V16,
        evse_id=target.evse_id,
        profile_id=target.profile_id,
        stack_level=target.stack_level,
        purpose=_purpose(target),
        limit=limit,
        rate_unit=RateUnit.WATT if watts_only else RateUnit.AMPERE,
        number_phases=target.phases,
        start=target.start,  # a floor has none: it never expires
        duration_s=target.duration_s,
        transaction_id=target.transaction_id,
    )


def installed_profile(
    version: OcppVersion, target: ProfileTarget, watts_only: bool, voltage: float
) -> ChargingProfile:
    """The profile a charger keeps once it accepted `target`, to compare with the CSMS's."""
    payload = set_charging_profile(version, target, watts_only, voltage)
    v16 = version is OcppVersion.V16
    body = payload["csChargingProfiles" if v16 else "chargingProfile"]
    return profile_from_json(target.evse_id, body, v16)


def _purpose(target: ProfileTarget) -> Purpose:
    if target.station_max:
        return Purpose.STATION_MAX
    return Purpose.TX_DEFAULT if target.transaction_id is None else Purpose.TX


def session_query(version: OcppVersion, evse_id: int) -> dict[str, Any]:
    """TriggerMessage asking a charger for the session on `evse_id`: 1.6 MeterValues (they name
    the transaction), 2.0.1 a TransactionEvent."""
    if version is OcppVersion.V16:
        return {"requestedMessage": "MeterValues", "connectorId": evse_id}
    return {"requestedMessage": "TransactionEvent", "evse": {"id": evse_id}}


def clear_charging_profile(version: OcppVersion, profile_id: int) -> dict[str, Any]:
    """The ClearChargingProfile payload that removes the profile with `profile_id`."""
    if version is OcppVersion.V16:
        return {"id": profile_id}
    return {"chargingProfileId": profile_id}
