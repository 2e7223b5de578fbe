"""Charging profiles in the shapes the ocpp package hands a charger's handler (snake_case keys),
for the garage's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ocpp_knowledge.ocpp_time import to_ocpp_time
from ocpp_knowledge.profiles import ChargingProfile, profile_from_v16, profile_from_v201

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def schedule(
    *periods: tuple[int, float | Decimal] | tuple[int, float, int],
    unit: str = "A",
    start: datetime | None = None,
    duration_s: int | None = None,
) -> dict[str, Any]:
    """A chargingSchedule; periods are (startPeriod, limit) or (startPeriod, limit, phases)."""
    fields: dict[str, Any] = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [
            {"start_period": p[0], "limit": p[1]} | ({"number_phases": p[2]} if len(p) > 2 else {})
            for p in periods
        ],
    }
    if start is not None:
        fields["start_schedule"] = to_ocpp_time(start)
    if duration_s is not None:
        fields["duration"] = duration_s
    return fields


def _common(
    stack_level: int,
    purpose: str,
    kind: str,
    transaction_id: int | str | None,
    valid_from: datetime | None,
    valid_to: datetime | None,
    recurrency: str | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "stack_level": stack_level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": kind,
    }
    optional = {
        "transaction_id": transaction_id,
        "valid_from": None if valid_from is None else to_ocpp_time(valid_from),
        "valid_to": None if valid_to is None else to_ocpp_time(valid_to),
        "recurrency_kind": recurrency,
    }
    return fields | {key: value for key, value in optional.items() if value is not None}


def v16(
    profile_id: int,
    stack_level: int,
    purpose: str,
    charging_schedule: dict[str, Any],
    *,
    connector_id: int = 1,
    kind: str = "Absolute",
    transaction_id: int | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    recurrency: str | None = None,
) -> ChargingProfile:
    """A 1.6 SetChargingProfile.req as the charger receives it, parsed."""
    fields = _common(
        stack_level, purpose, kind, transaction_id, valid_from, valid_to, recurrency
    ) | {"charging_profile_id": profile_id, "charging_schedule": charging_schedule}
    return profile_from_v16(connector_id, fields)


def v201(
    profile_id: int,
    stack_level: int,
    purpose: str,
    charging_schedule: dict[str, Any],
    *,
    evse_id: int = 1,
    kind: str = "Absolute",
    transaction_id: str | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    recurrency: str | None = None,
) -> ChargingProfile:
    """A 2.0.1 SetChargingProfileRequest as the station receives it, parsed."""
    fields = _common(
        stack_level, purpose, kind, transaction_id, valid_from, valid_to, recurrency
    ) | {"id": profile_id, "charging_schedule": [charging_schedule | {"id": profile_id}]}
    return profile_from_v201(evse_id, fields)
