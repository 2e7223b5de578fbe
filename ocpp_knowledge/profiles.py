"""Charging profiles in one shape for OCPP 1.6 and 2.0.1, as a charger keeps them.

The ocpp package hands a handler its payload with snake_case keys; `profile_from_v16` and
`profile_from_v201` turn that into a `ChargingProfile`. `profile_from_json` does the same for a
profile as it is on the wire (camelCase keys), as the LC sees it pass. Payloads were
schema-checked before they get here. Numbers arrive as int, float or Decimal (the package parses 1.6
schedule limits as Decimal for its multipleOf check), so they are converted on the way in.
The other way, `set_charging_profile_request` builds the one kind of profile the LC sets itself
(Absolute, one limit) in either version's shape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from ocpp_knowledge.ocpp_time import from_ocpp_time, to_ocpp_time


class Purpose(Enum):
    """What a profile limits; 1.6 and 2.0.1 names mean the same thing."""

    STATION_MAX = "station max"
    """1.6 ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile: the whole charger."""
    EXTERNAL_CONSTRAINTS = "external constraints"
    """2.0.1 ChargingStationExternalConstraints: set by a local EMS, never by the CSMS."""
    TX_DEFAULT = "tx default"
    TX = "tx"


PURPOSES_BY_OCPP_NAME: Mapping[str, Purpose] = {
    "ChargePointMaxProfile": Purpose.STATION_MAX,
    "ChargingStationMaxProfile": Purpose.STATION_MAX,
    "ChargingStationExternalConstraints": Purpose.EXTERNAL_CONSTRAINTS,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(StrEnum):
    AMPERE = "A"
    """Current per phase."""
    WATT = "W"
    """Total power over all phases."""


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_s: int
    """Seconds from the start of the schedule."""
    limit: float
    """In the schedule's rate unit."""
    number_phases: int | None = None
    """Phases the CSMS expects to be used; OCPP assumes 3 when absent."""


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    rate_unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    """Sorted by start."""
    duration_s: int | None = None
    """None: the last period runs on indefinitely."""
    start: datetime | None = None
    """startSchedule."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargingProfile:
    profile_id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: ChargingSchedule
    connector_id: int = 0
    """1.6 connectorId / 2.0.1 evseId it was set on; 0 means the whole charger."""
    transaction_id: int | str | None = None
    """Only for TxProfile: 1.6 ids are integers from the CSMS, 2.0.1 ids strings from the
    station."""
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transaction:
    transaction_id: int | str
    started_at: datetime


def purpose_from_ocpp(name: str) -> Purpose:
    return PURPOSES_BY_OCPP_NAME[name]


def purpose_name(purpose: Purpose, v16: bool) -> str:
    """`purpose` as OCPP 1.6 or 2.x names it."""
    if purpose is Purpose.STATION_MAX:
        return "ChargePointMaxProfile" if v16 else "ChargingStationMaxProfile"
    return {
        Purpose.EXTERNAL_CONSTRAINTS: "ChargingStationExternalConstraints",
        Purpose.TX_DEFAULT: "TxDefaultProfile",
        Purpose.TX: "TxProfile",
    }[purpose]


# A schedule that is in force from now on: it starts in the past (a profile without end).
STARTED_LONG_AGO = "2020-01-01T00:00:00Z"
# The noise binary floats bring to a limit (2.3 * 10 == 22.999999999999996), below a tenth.
_TENTH_NOISE = 1e-6


def floor_to_tenth(value: float) -> float:
    """`value` down to the 0.1 grid of profile limits (1.6 makes them a multipleOf 0.1)."""
    return math.floor(value * 10 + _TENTH_NOISE) / 10


def ceil_to_tenth(value: float) -> float:
    """`value` up to the 0.1 grid of profile limits."""
    return math.ceil(value * 10 - _TENTH_NOISE) / 10


def set_charging_profile_request(
    v16: bool,
    *,
    evse_id: int,
    profile_id: int,
    stack_level: int,
    purpose: Purpose,
    limit: float,
    rate_unit: RateUnit = RateUnit.AMPERE,
    number_phases: int | None = None,
    start: datetime | None = None,
    duration_s: int | None = None,
    transaction_id: int | str | None = None,
) -> dict[str, Any]:
    """SetChargingProfile for an Absolute profile on `evse_id` (1.6: the connector) that holds
    one `limit` from `start` (None: from long ago) for `duration_s` (None: without end)."""
    period: dict[str, Any] = {"startPeriod": 0, "limit": round(limit, 1)}
    if number_phases is not None:
        period["numberPhases"] = number_phases
    schedule: dict[str, Any] = {
        "chargingRateUnit": rate_unit.value,
        "startSchedule": STARTED_LONG_AGO if start is None else to_ocpp_time(start, "seconds"),
        "chargingSchedulePeriod": [period],
    }
    if duration_s is not None:
        schedule["duration"] = duration_s
    profile: dict[str, Any] = {
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose_name(purpose, v16),
        "chargingProfileKind": Kind.ABSOLUTE.value,
    }
    if v16:
        profile = {"chargingProfileId": profile_id, **profile, "chargingSchedule": schedule}
        if transaction_id is not None:
            profile["transactionId"] = int(transaction_id)
        return {"connectorId": evse_id, "csChargingProfiles": profile}
    profile = {"id": profile_id, **profile, "chargingSchedule": [{"id": 1, **schedule}]}
    if transaction_id is not None:
        profile["transactionId"] = str(transaction_id)
    return {"evseId": evse_id, "chargingProfile": profile}


def profile_from_v16(connector_id: int, cs_charging_profiles: Mapping[str, Any]) -> ChargingProfile:
    """A 1.6 SetChargingProfile.req (`connectorId`, `csChargingProfiles`) as a profile."""
    return _profile(
        cs_charging_profiles,
        profile_id=int(cs_charging_profiles["charging_profile_id"]),
        connector_id=connector_id,
        schedule=cs_charging_profiles["charging_schedule"],
    )


def profile_from_v201(evse_id: int, charging_profile: Mapping[str, Any]) -> ChargingProfile:
    """A 2.0.1 SetChargingProfileRequest (`evseId`, `chargingProfile`) as a profile.

    2.0.1 allows up to three schedules per profile, the extra ones only as alternatives for an
    ISO 15118 car to choose from; a charger without that negotiation applies the first.
    """
    return _profile(
        charging_profile,
        profile_id=int(charging_profile["id"]),
        connector_id=evse_id,
        schedule=charging_profile["charging_schedule"][0],
    )


def profile_from_json(evse_id: int, profile: Mapping[str, Any], v16: bool) -> ChargingProfile:
    """A profile as the wire carries it (1.6 `csChargingProfiles`, 2.0.1 `chargingProfile`).

    Raises KeyError, ValueError or TypeError for a profile without what the rules need.
    """
    fields = _snake_case_keys(profile)
    return profile_from_v16(evse_id, fields) if v16 else profile_from_v201(evse_id, fields)


def cleared_by(profile: ChargingProfile, criteria: Mapping[str, Any]) -> bool:
    """Whether a ClearChargingProfile request (1.6 or 2.0.1 shape, as on the wire) removes
    `profile`: every criterion it gives matches; none given clears every profile."""
    nested = criteria.get("chargingProfileCriteria")
    fields = {**criteria, **(nested if isinstance(nested, Mapping) else {})}
    purpose = fields.get("chargingProfilePurpose")
    if purpose is not None and PURPOSES_BY_OCPP_NAME.get(purpose) is not profile.purpose:
        return False
    checks = {
        "id": profile.profile_id,
        "chargingProfileId": profile.profile_id,
        "connectorId": profile.connector_id,
        "evseId": profile.connector_id,
        "stackLevel": profile.stack_level,
    }
    return all(fields[name] == value for name, value in checks.items() if name in fields)


def _snake_case_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_CAPITAL.sub(r"_\1", key).lower(): _snake_case_keys(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_snake_case_keys(item) for item in value]
    return value


_CAPITAL = re.compile(r"(?<!^)([A-Z])")


def _profile(
    fields: Mapping[str, Any], *, profile_id: int, connector_id: int, schedule: Mapping[str, Any]
) -> ChargingProfile:
    recurrency = fields.get("recurrency_kind")
    transaction_id = fields.get("transaction_id")
    return ChargingProfile(
        profile_id=profile_id,
        stack_level=int(fields["stack_level"]),
        purpose=purpose_from_ocpp(fields["charging_profile_purpose"]),
        kind=Kind(fields["charging_profile_kind"]),
        schedule=_schedule(schedule),
        connector_id=connector_id,
        transaction_id=transaction_id if isinstance(transaction_id, str) else _int(transaction_id),
        recurrency=None if recurrency is None else Recurrency(recurrency),
        valid_from=_time(fields.get("valid_from")),
        valid_to=_time(fields.get("valid_to")),
    )


def _schedule(fields: Mapping[str, Any]) -> ChargingSchedule:
    periods = sorted(
        (
            SchedulePeriod(
                start_s=int(period["start_period"]),
                limit=float(period["limit"]),
                number_phases=_int(period.get("number_phases")),
            )
            for period in fields["charging_schedule_period"]
        ),
        key=lambda period: period.start_s,
    )
    return ChargingSchedule(
        rate_unit=RateUnit(fields["charging_rate_unit"]),
        periods=tuple(periods),
        duration_s=_int(fields.get("duration")),
        start=_time(fields.get("start_schedule")),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _time(value: str | None) -> datetime | None:
    return None if value is None else from_ocpp_time(value)
