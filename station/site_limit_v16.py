"""The site's limit from a 1.6 CSMS: SetChargingProfile (ChargePointMaxProfile on connector 0),
ClearChargingProfile and GetCompositeSchedule in 1.6's words, on the same rules as 2.0.1's
(`station.site_limit.SiteLimit`). 1.6 answers carry no reason: the LC's log says it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp_knowledge.ocpp_time import to_ocpp_time
from station.link import StationLink
from station.site_limit import SITE_EVSE, SiteLimit


class SiteLimitCalls16:
    def __init__(self, limit: SiteLimit) -> None:
        self._limit = limit

    def register(self, station: StationLink) -> None:
        station.register("SetChargingProfile", self.set_charging_profile)
        station.register("ClearChargingProfile", self.clear_charging_profile)
        station.register("GetCompositeSchedule", self.get_composite_schedule)

    def set_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        refusal = self._limit.apply(payload["connectorId"], payload["csChargingProfiles"])
        return {"status": "Accepted" if refusal is None else "Rejected"}

    def clear_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted" if self._limit.clear(payload) else "Unknown"}

    def get_composite_schedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        connector_id = payload["connectorId"]
        if connector_id != SITE_EVSE:
            return {"status": "Rejected"}  # the LC has no connectors of its own
        unit = payload.get("chargingRateUnit", "A")
        start = datetime.now(UTC)
        periods = self._limit.composite(start, payload["duration"], unit)
        if not periods:
            return {"status": "Rejected"}  # nothing limits the site
        return {
            "status": "Accepted",
            "connectorId": connector_id,
            "scheduleStart": to_ocpp_time(start),
            "chargingSchedule": {
                "duration": payload["duration"],
                "startSchedule": to_ocpp_time(start),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": periods,
            },
        }
