"""What the CSMS hears of an EMS's limit on the site (K14.FR.02/03), pure: NotifyChargingLimit
when it changed by more than `SmartChargingCtrlr.LimitChangeSignificance` percent since the last
one reported, ClearedChargingLimit once it is released. Source EMS, on the LC's EVSE 0; the
notice carries the limit as a schedule (the LC applies it to its own cap, never as a
ChargingStationExternalConstraints profile to a charger: K14.FR.06)."""

from __future__ import annotations

from typing import Any

from ocpp_knowledge.composite import DEFAULT_PHASES

SOURCE = "EMS"
SITE_EVSE = 0
# The schedule's id in the notices: negative, as K12.FR.05 recommends for external limits.
SCHEDULE_ID = -1


class ChargingLimitNotices:
    def __init__(self) -> None:
        self.reported_a: float | None = None  # the limit the CSMS last heard of

    def change(
        self, limit_a: float | None, significance_pct: float
    ) -> tuple[str, dict[str, Any]] | None:
        """The call (action, payload) that tells the CSMS of `limit_a`, if one is due."""
        reported = self.reported_a
        if limit_a is None:
            if reported is None:
                return None
            self.reported_a = None
            return "ClearedChargingLimit", {"chargingLimitSource": SOURCE, "evseId": SITE_EVSE}
        if reported is not None and abs(limit_a - reported) * 100 <= reported * significance_pct:
            return None
        self.reported_a = limit_a
        return "NotifyChargingLimit", {
            "chargingLimit": {"chargingLimitSource": SOURCE},
            "evseId": SITE_EVSE,
            "chargingSchedule": [
                {
                    "id": SCHEDULE_ID,
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": limit_a, "numberPhases": DEFAULT_PHASES}
                    ],
                }
            ],
        }
