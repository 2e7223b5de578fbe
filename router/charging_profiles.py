"""The SetChargingProfile payload in each protocol version's shape (pure).

The LC sets profiles of its own for two reasons: the load balancer's limits and, under `hold`,
the energy stop of a session the CSMS refused. Both describe one Absolute profile with one
schedule; only the envelope differs between OCPP 1.6 and 2.x, and it is built here.
"""

from __future__ import annotations

from typing import Any

from router.frames import OcppVersion

# A schedule that is in force from now on: it starts in the past (a profile without end).
STARTED_LONG_AGO = "2020-01-01T00:00:00Z"


def set_charging_profile(
    version: OcppVersion,
    evse_id: int,
    profile_id: int,
    stack_level: int,
    purpose: str,
    schedule: dict[str, Any],
    transaction_id: int | str | None = None,
) -> dict[str, Any]:
    """SetChargingProfile for an Absolute profile with `schedule` (chargingRateUnit,
    startSchedule, chargingSchedulePeriod, optional duration) on `evse_id` (1.6: connector)."""
    profile: dict[str, Any] = {
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
    }
    if version is OcppVersion.V16:
        profile = {"chargingProfileId": profile_id, **profile, "chargingSchedule": schedule}
        if transaction_id is not None:
            profile["transactionId"] = int(transaction_id)
        return {"connectorId": evse_id, "csChargingProfiles": profile}
    profile = {"id": profile_id, **profile, "chargingSchedule": [{"id": 1, **schedule}]}
    if transaction_id is not None:
        profile["transactionId"] = str(transaction_id)
    return {"evseId": evse_id, "chargingProfile": profile}
