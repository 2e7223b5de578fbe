"""The site's limit from the CSMS (K01, K08, K09, K10 on the LC's own EVSE 0) as station handlers:
SetChargingProfile, GetChargingProfiles, ClearChargingProfile and GetCompositeSchedule.

The LC has no EVSEs of its own: the only profile it takes is a ChargingStationMaxProfile on
EVSE 0, the whole site. Its composite at a time (ocpp_knowledge.composite, A per phase, W
turned into A with the site's nominal voltage) caps the balancer beside the config file's cap.
The profiles are kept as the CSMS sent them (the wire's JSON, so reports give them back
unchanged) in a small file beside the station state file (mode 0600, replaced atomically).

The rules (`apply`, `clear`, `composite`) are the same for a 1.6 CSMS (ChargePointMaxProfile
on connector 0, `station.site_limit_v16` words its calls); the handlers here word 2.0.1's.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config_file.private_file import write_private
from ocpp_knowledge.composite import DEFAULT_PHASES, composite_limit, composite_schedule
from ocpp_knowledge.ocpp_time import to_ocpp_time
from ocpp_knowledge.profiles import (
    PURPOSES_BY_OCPP_NAME,
    ChargingProfile,
    Purpose,
    cleared_by,
    profile_from_json,
)
from router.frames import OcppVersion
from station.link import StationCallFailed, StationLink

log = logging.getLogger(__name__)

SITE_EVSE = 0


def profiles_path(state_path: Path) -> Path:
    """Where the CSMS's profiles are kept: beside the station state file."""
    return state_path.with_name(state_path.stem + "-charging-profiles.json")


class SiteLimit:
    """The CSMS's charging profiles on the LC's EVSE 0 and the limit they give."""

    def __init__(
        self,
        path: Path,
        voltage_v: float,
        config_cap_a: Callable[[], float | None],
        version: OcppVersion = OcppVersion.V201,
    ) -> None:
        self.path = path
        self._v16 = version is OcppVersion.V16  # how the kept profiles are worded
        self._voltage_v = voltage_v
        # The config file's cap (as SetVariables left it), lowest phase: what GetCompositeSchedule
        # reports where the CSMS sets no limit. None: the LC does not balance.
        self._config_cap_a = config_cap_a
        self._sent: dict[int, dict[str, Any]] = self._load()  # by profile id, as on the wire
        # The same, read once (the balancer asks every period).
        self._parsed = {profile_id: self._parse(sent) for profile_id, sent in self._sent.items()}

    def limit_a(self, now: datetime) -> float | None:
        """The CSMS's limit in A per phase at `now`; None when it sets none."""
        return composite_limit(
            self._profiles(), now, connector_id=SITE_EVSE, voltage_v=self._voltage_v
        )

    def register(self, station: StationLink) -> None:
        station.register("SetChargingProfile", self.set_charging_profile)
        station.register("ClearChargingProfile", self.clear_charging_profile)
        station.register("GetCompositeSchedule", self.get_composite_schedule)
        station.register(
            "GetChargingProfiles", lambda payload: self.get_charging_profiles(payload, station)
        )

    def set_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        refusal = self.apply(payload["evseId"], payload["chargingProfile"])
        if refusal is not None:
            return {"status": "Rejected", "statusInfo": {"reasonCode": refusal}}
        return {"status": "Accepted"}

    def apply(self, evse_id: int, sent: dict[str, Any]) -> str | None:
        """Take the profile `sent` (as on the wire) on `evse_id`; or the reason code why not."""
        refusal = self._refusal(evse_id, sent)
        if refusal is not None:
            log.warning("a site limit profile rejected: %s", refusal)
            return refusal
        profile = self._parse(sent)
        self._sent[profile.profile_id] = sent  # the same id replaces (K01.FR.05)
        self._parsed[profile.profile_id] = profile
        self._save()
        log.info("the CSMS set the site limit profile %s", profile.profile_id)
        return None

    def _parse(self, sent: dict[str, Any]) -> ChargingProfile:
        return profile_from_json(SITE_EVSE, sent, v16=self._v16)

    def _refusal(self, evse_id: int, sent: dict[str, Any]) -> str | None:
        if evse_id != SITE_EVSE:
            return "UnknownEvse"  # K01.FR.28: the LC has no EVSEs of its own
        if PURPOSES_BY_OCPP_NAME.get(sent["chargingProfilePurpose"]) is not Purpose.STATION_MAX:
            # TxProfile needs an EVSE (K01.FR.16), TxDefaultProfile one that can charge, and
            # ChargingStationExternalConstraints is never the CSMS's to set (K01.FR.22).
            return "UnsupportedPurpose"
        if sent["chargingProfileKind"] == "Relative":
            return "UnsupportedKind"  # K01.FR.38
        try:
            profile = self._parse(sent)
        except (KeyError, ValueError, TypeError):
            return "InvalidSchedule"
        if any(
            _overlaps(profile, other)
            for other in self._profiles()
            if other.profile_id != profile.profile_id
        ):
            return "DuplicateProfile"  # K01.FR.06: one stack level, one valid profile
        return None

    def clear_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted" if self.clear(payload) else "Unknown"}

    def clear(self, criteria: dict[str, Any]) -> bool:
        """Remove the profiles a ClearChargingProfile request (as on the wire) names; whether
        there were any."""
        cleared = [
            profile.profile_id for profile in self._profiles() if cleared_by(profile, criteria)
        ]
        if not cleared:
            return False
        for profile_id in cleared:
            del self._sent[profile_id], self._parsed[profile_id]
        self._save()
        log.info("the CSMS cleared the site limit profiles %s", cleared)
        return True

    def get_charging_profiles(
        self, payload: dict[str, Any], station: StationLink
    ) -> dict[str, Any]:
        matching = [self._sent[profile.profile_id] for profile in self._matching(payload)]
        if not matching:
            return {"status": "NoProfiles"}
        report = {
            "requestId": payload["requestId"],
            "chargingLimitSource": "CSO",
            "evseId": SITE_EVSE,
            "chargingProfile": matching,
        }

        async def send() -> None:  # after the answer (K09.FR.03)
            try:
                await station.call("ReportChargingProfiles", report)
            except StationCallFailed as failed:
                log.warning("ReportChargingProfiles %s: %s", payload["requestId"], failed)

        station.after_answer(send)
        return {"status": "Accepted"}

    def _matching(self, payload: dict[str, Any]) -> list[ChargingProfile]:
        if payload.get("evseId", SITE_EVSE) != SITE_EVSE:
            return []
        criteria = payload["chargingProfile"]
        ids = criteria.get("chargingProfileId")
        sources = criteria.get("chargingLimitSource")
        return [
            profile
            for profile in self._profiles()
            if (ids is None or profile.profile_id in ids)
            and (sources is None or "CSO" in sources)
            and cleared_by(
                profile,
                {
                    key: criteria[key]
                    for key in ("chargingProfilePurpose", "stackLevel")
                    if key in criteria
                },
            )
        ]

    def get_composite_schedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload["evseId"] != SITE_EVSE:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
        unit = payload.get("chargingRateUnit", "A")
        start = datetime.now(UTC)
        schedule_periods = self.composite(start, payload["duration"], unit)
        if not schedule_periods:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "NoLimit"}}
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": SITE_EVSE,
                "duration": payload["duration"],
                "scheduleStart": to_ocpp_time(start),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": schedule_periods,
            },
        }

    def composite(self, start: datetime, duration_s: int, unit: str) -> list[dict[str, Any]]:
        """The site's limit from `start` on, as chargingSchedulePeriods in `unit` (A or W):
        the CSMS's composite under the config file's cap; none when nothing limits the site."""
        periods = composite_schedule(
            self._profiles(),
            start,
            duration_s,
            connector_id=SITE_EVSE,
            voltage_v=self._voltage_v,
        )
        config_cap = self._config_cap_a()
        by_start: dict[int, float] = {}  # whole seconds: a change within one goes to its end
        for period in periods:
            limits = [limit for limit in (period.limit_a, config_cap) if limit is not None]
            if limits:  # else nothing limits the site from here on (no balancer, no profile)
                by_start[math.ceil(period.offset_s)] = min(limits)
        schedule_periods: list[dict[str, Any]] = []
        for start_s, amps in sorted(by_start.items()):
            if schedule_periods and schedule_periods[-1]["limit"] == self._in_unit(amps, unit):
                continue
            schedule_periods.append(
                {
                    "startPeriod": start_s,
                    "limit": self._in_unit(amps, unit),
                    "numberPhases": DEFAULT_PHASES,
                }
            )
        return schedule_periods

    def _in_unit(self, amps: float, unit: str) -> float:
        return amps if unit == "A" else amps * self._voltage_v * DEFAULT_PHASES

    def _profiles(self) -> list[ChargingProfile]:
        return list(self._parsed.values())

    def _load(self) -> dict[int, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("%s: unreadable, the CSMS's site limit is lost: %s", self.path, exc)
            return {}
        kept: dict[int, dict[str, Any]] = {}
        for sent in data if isinstance(data, list) else []:
            try:
                kept[self._parse(sent).profile_id] = sent
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                log.error("%s: a profile dropped, unreadable: %s", self.path, exc)
        return kept

    def _save(self) -> None:
        write_private(self.path, json.dumps(list(self._sent.values()), indent=1).encode("utf-8"))


def _overlaps(profile: ChargingProfile, other: ChargingProfile) -> bool:
    if (profile.stack_level, profile.purpose) != (other.stack_level, other.purpose):
        return False
    earliest, latest = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    return (profile.valid_from or earliest) < (other.valid_to or latest) and (
        other.valid_from or earliest
    ) < (profile.valid_to or latest)
