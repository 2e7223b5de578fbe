"""The site limit the CSMS sets on the LC's EVSE 0 (K01, K08, K09, K10): which profiles are taken,
the limit they give over time, the reports, and the file that keeps them across restarts."""

from __future__ import annotations

import json
import math
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from balancer.site_cap import CapSource, site_cap
from ocpp_knowledge.ocpp_time import to_ocpp_time
from station.site_limit import SiteLimit

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def station_max(
    profile_id: int = 1,
    periods: list[tuple[int, float]] | None = None,
    unit: str = "A",
    start: datetime = START,
    **more: Any,
) -> dict[str, Any]:
    """A ChargingStationMaxProfile as the wire carries it."""
    return {
        "id": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": to_ocpp_time(start),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [
                    {"startPeriod": start, "limit": limit}
                    for start, limit in (periods or [(0, 20.0)])
                ],
            }
        ],
    } | more


def site_limit(tmp_path: Path, config_cap_a: float | None = 32.0) -> SiteLimit:
    return SiteLimit(tmp_path / "profiles.json", 230.0, lambda: config_cap_a)


def test_a_schedule_period_lowers_the_limit_at_its_start(tmp_path: Path) -> None:
    limit = site_limit(tmp_path)
    profile = station_max(periods=[(0, 25.0), (3600, 12.0)])
    answer = limit.set_charging_profile({"evseId": 0, "chargingProfile": profile})
    assert answer == {"status": "Accepted"}
    assert limit.limit_a(START - timedelta(seconds=1)) is None
    assert limit.limit_a(START + timedelta(minutes=59)) == 25.0
    assert limit.limit_a(START + timedelta(hours=1)) == 12.0


def test_watts_become_amperes_per_phase_with_the_site_voltage(tmp_path: Path) -> None:
    limit = site_limit(tmp_path)
    limit.set_charging_profile(
        {"evseId": 0, "chargingProfile": station_max(periods=[(0, 13800.0)], unit="W")}
    )
    assert limit.limit_a(START) == pytest.approx(20.0)  # 13,800 W / (230 V × 3 phases)


@pytest.mark.parametrize(
    ("evse_id", "profile", "reason"),
    [
        (1, station_max(), "UnknownEvse"),
        (0, station_max(chargingProfilePurpose="TxDefaultProfile"), "UnsupportedPurpose"),
        (0, station_max(chargingProfilePurpose="TxProfile"), "UnsupportedPurpose"),
        (
            0,
            station_max(chargingProfilePurpose="ChargingStationExternalConstraints"),
            "UnsupportedPurpose",
        ),
        (0, station_max(chargingProfileKind="Relative"), "UnsupportedKind"),
        (0, station_max(profile_id=2), "DuplicateProfile"),  # profile 1 at the same stack level
    ],
)
def test_what_the_lc_cannot_take_is_rejected(
    tmp_path: Path, evse_id: int, profile: dict[str, Any], reason: str
) -> None:
    limit = site_limit(tmp_path)
    limit.set_charging_profile({"evseId": 0, "chargingProfile": station_max(periods=[(0, 30.0)])})
    answer = limit.set_charging_profile({"evseId": evse_id, "chargingProfile": profile})
    assert answer == {"status": "Rejected", "statusInfo": {"reasonCode": reason}}
    assert limit.limit_a(START) == 30.0  # the profile taken before still applies


def test_the_same_id_replaces_and_a_later_validity_may_share_the_stack_level(
    tmp_path: Path,
) -> None:
    limit = site_limit(tmp_path)
    limit.set_charging_profile(
        {"evseId": 0, "chargingProfile": station_max(validTo=to_ocpp_time(START))}
    )
    later = station_max(profile_id=2, periods=[(0, 8.0)], validFrom=to_ocpp_time(START))
    assert limit.set_charging_profile({"evseId": 0, "chargingProfile": later}) == {
        "status": "Accepted"
    }
    replaced = station_max(profile_id=2, periods=[(0, 9.0)], validFrom=to_ocpp_time(START))
    limit.set_charging_profile({"evseId": 0, "chargingProfile": replaced})
    assert limit.limit_a(START) == 9.0


def test_profiles_are_kept_private_across_restarts(tmp_path: Path) -> None:
    profile = station_max(periods=[(0, 14.0)])
    site_limit(tmp_path).set_charging_profile({"evseId": 0, "chargingProfile": profile})
    path = tmp_path / "profiles.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == [profile]  # as the CSMS sent it
    assert site_limit(tmp_path).limit_a(START) == 14.0


def test_an_unreadable_file_loses_the_profiles_not_the_lc(tmp_path: Path) -> None:
    (tmp_path / "profiles.json").write_text("[{")
    assert site_limit(tmp_path).limit_a(START) is None


@pytest.mark.parametrize(
    ("request_payload", "status", "left"),
    [
        ({"chargingProfileId": 1}, "Accepted", None),
        ({"chargingProfileCriteria": {"evseId": 0}}, "Accepted", None),
        ({"chargingProfileId": 7}, "Unknown", 20.0),
        ({"chargingProfileCriteria": {"chargingProfilePurpose": "TxProfile"}}, "Unknown", 20.0),
    ],
)
def test_clear_removes_what_the_criteria_match(
    tmp_path: Path, request_payload: dict[str, Any], status: str, left: float | None
) -> None:
    limit = site_limit(tmp_path)
    limit.set_charging_profile({"evseId": 0, "chargingProfile": station_max()})
    assert limit.clear_charging_profile(request_payload) == {"status": status}
    assert limit.limit_a(START) == left
    assert site_limit(tmp_path).limit_a(START) == left  # the file says the same


def test_the_composite_schedule_is_the_lower_of_the_config_cap_and_the_csms_limit(
    tmp_path: Path,
) -> None:
    limit = site_limit(tmp_path, config_cap_a=25.0)
    now = datetime.now(UTC).replace(microsecond=0)
    profile = station_max(periods=[(0, 30.0), (600, 10.0)], start=now)
    limit.set_charging_profile({"evseId": 0, "chargingProfile": profile})
    answer = limit.get_composite_schedule({"evseId": 0, "duration": 3600})
    assert answer["status"] == "Accepted"
    schedule = answer["schedule"]
    assert schedule["evseId"] == 0 and schedule["chargingRateUnit"] == "A"
    offset = (now - datetime.fromisoformat(schedule["scheduleStart"])).total_seconds()
    assert [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]] == [
        (0, 25.0),
        (math.ceil(600 + offset), 10.0),  # in whole seconds, the change not before its time
    ]
    watts = limit.get_composite_schedule({"evseId": 0, "duration": 60, "chargingRateUnit": "W"})
    assert watts["schedule"]["chargingSchedulePeriod"][0]["limit"] == 25.0 * 230 * 3


def test_no_composite_for_an_evse_the_lc_has_not(tmp_path: Path) -> None:
    answer = site_limit(tmp_path).get_composite_schedule({"evseId": 1, "duration": 60})
    assert answer["status"] == "Rejected"


def test_the_lower_limit_binds_on_each_phase() -> None:
    assert site_cap((32.0, 32.0, 25.0), None) == site_cap((32.0, 32.0, 25.0), 40.0)
    assert site_cap((32.0, 32.0, 25.0), 40.0).binding is CapSource.CONFIG
    lowered = site_cap((32.0, 32.0, 25.0), 28.0)
    assert lowered.phase_cap_a == (28.0, 28.0, 25.0)
    assert lowered.binding is CapSource.CSMS
