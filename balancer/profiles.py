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
from datetime import UTC, datetime
from typing import Any

from ocpp_knowledge.configuration import stack_level
from ocpp_knowledge.profiles import ChargingProfile, profile_from_json
from router.charging_profiles import STARTED_LONG_AGO
from router.charging_profiles import set_charging_profile as profile_payload  # the envelope
from router.frames import OcppVersion

SMART_CHARGING_CTRLR = "SmartChargingCtrlr"


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


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def capability_query(version: OcppVersion) -> tuple[str, dict[str, Any]]:
    if version is OcppVersion.V16:
        keys = ["ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit"]
        return "GetConfiguration", {"key": keys}
    variables = ["Enabled", "ProfileStackLevel", "RateUnit"]
    data = [
        {"component": {"name": SMART_CHARGING_CTRLR}, "variable": {"name": name}}
        for name in variables
    ]
    return "GetVariables", {"getVariableData": data}


def parse_capabilities(version: OcppVersion, answer: dict[str, Any]) -> Capabilities:
    if version is OcppVersion.V16:
        values = {
            item.get("key"): item.get("value")
            for item in answer.get("configurationKey", [])
            if isinstance(item, dict)
        }
        units = values.get("ChargingScheduleAllowedChargingRateUnit") or "Current"
        enabled = True
        stack = values.get("ChargeProfileMaxStackLevel")
    else:
        values = {
            item["variable"]["name"]: item.get("attributeValue")
            for item in answer.get("getVariableResult", [])
            if isinstance(item, dict) and item.get("attributeStatus") == "Accepted"
        }
        units = (values.get("RateUnit") or "A").replace("A", "Current").replace("W", "Power")
        enabled = (values.get("Enabled") or "true").lower() != "false"
        stack = values.get("ProfileStackLevel")
    unit_set = {unit.strip() for unit in units.split(",")}
    return Capabilities(
        smart_charging=enabled,
        watts_only="Current" not in unit_set and "Power" in unit_set,
        max_stack_level=stack_level(stack),
    )


def set_charging_profile(
    version: OcppVersion, target: ProfileTarget, watts_only: bool, voltage: float
) -> dict[str, Any]:
    """The SetChargingProfile payload for `target` in `version`'s shape."""
    unit = "W" if watts_only else "A"
    limit = target.limit_a * voltage * target.phases if watts_only else target.limit_a
    period = {"startPeriod": 0, "limit": round(limit, 1), "numberPhases": target.phases}
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        # a floor never expires: it starts in the past and has no duration
        "startSchedule": iso(target.start) if target.start else STARTED_LONG_AGO,
        "chargingSchedulePeriod": [period],
    }
    if target.duration_s is not None:
        schedule["duration"] = target.duration_s
    return profile_payload(
        version,
        target.evse_id,
        target.profile_id,
        target.stack_level,
        _purpose(version, target),
        schedule,
        target.transaction_id,
    )


def installed_profile(
    version: OcppVersion, target: ProfileTarget, watts_only: bool, voltage: float
) -> ChargingProfile:
    """The profile a charger keeps once it accepted `target`, to compare with the CSMS's."""
    payload = set_charging_profile(version, target, watts_only, voltage)
    v16 = version is OcppVersion.V16
    body = payload["csChargingProfiles" if v16 else "chargingProfile"]
    return profile_from_json(target.evse_id, body, v16)


def _purpose(version: OcppVersion, target: ProfileTarget) -> str:
    if target.station_max:
        if version is OcppVersion.V16:
            return "ChargePointMaxProfile"
        return "ChargingStationMaxProfile"
    return "TxDefaultProfile" if target.transaction_id is None else "TxProfile"


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
