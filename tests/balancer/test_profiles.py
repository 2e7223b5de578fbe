"""SetChargingProfile payloads and capability queries, checked against the official schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from balancer.profiles import (
    Capabilities,
    ProfileTarget,
    as_station_max,
    capability_query,
    clear_charging_profile,
    parse_capabilities,
    set_charging_profile,
)
from ocpp_knowledge.configuration import SMART_CHARGING_CTRLR
from router.frames import OcppVersion
from router.schemas import default_registry

V16, V201 = OcppVersion.V16, OcppVersion.V201
VERSIONS = [V16, V201, OcppVersion.V21]
VOLTAGE = 230.0
START = datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC)


def floor(limit_a: float = 6.0, phases: int = 3) -> ProfileTarget:
    return ProfileTarget(
        evse_id=0, profile_id=870000, stack_level=8, limit_a=limit_a, phases=phases
    )


def tx_profile(limit_a: float = 16.0, phases: int = 3) -> ProfileTarget:
    return ProfileTarget(
        evse_id=1,
        profile_id=870001,
        stack_level=9,
        limit_a=limit_a,
        phases=phases,
        transaction_id="42",
        duration_s=300,
        start=START,
    )


def station_max_floor(limit_a: float = 6.0, phases: int = 3) -> ProfileTarget:
    return as_station_max(floor(limit_a, phases))


def station_max_limit(limit_a: float = 16.0, phases: int = 3) -> ProfileTarget:
    return as_station_max(tx_profile(limit_a, phases))


MAKERS = [floor, tx_profile, station_max_floor, station_max_limit]
MAKER_IDS = ["floor", "tx", "station-max-floor", "station-max-limit"]


def schema_problem(version: OcppVersion, action: str, payload: dict[str, Any]) -> object:
    return default_registry().check(version, action, True, payload)


def profile_of(version: OcppVersion, payload: dict[str, Any]) -> dict[str, Any]:
    key = "csChargingProfiles" if version is V16 else "chargingProfile"
    profile: dict[str, Any] = payload[key]
    return profile


def schedule_of(version: OcppVersion, payload: dict[str, Any]) -> dict[str, Any]:
    schedule = profile_of(version, payload)["chargingSchedule"]
    if version is V16:
        assert isinstance(schedule, dict)
        return schedule
    assert isinstance(schedule, list) and len(schedule) == 1
    assert schedule[0]["id"] == 1
    only: dict[str, Any] = schedule[0]
    return only


# -- schema validity ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("make", MAKERS, ids=MAKER_IDS)
@pytest.mark.parametrize("watts_only", [False, True], ids=["A", "W"])
@pytest.mark.parametrize("phases", [1, 3])
@pytest.mark.parametrize("limit_a", [0.0, 6.0, 16.0, 32.0])
def test_every_profile_payload_is_schema_valid(
    version: OcppVersion, make: Any, watts_only: bool, phases: int, limit_a: float
) -> None:
    payload = set_charging_profile(version, make(limit_a, phases), watts_only, VOLTAGE)
    assert schema_problem(version, "SetChargingProfile", payload) is None


# The 1.6 schema says `limit` is a multipleOf 0.1; in binary floating point 7.3 / 0.1 is not a
# whole number, so a validator that divides floats rejects a third of the grid.
@pytest.mark.parametrize("version", [V16, V201])
@pytest.mark.parametrize("make", MAKERS, ids=MAKER_IDS)
def test_every_limit_on_the_tenth_ampere_grid_is_schema_valid(
    version: OcppVersion, make: Any
) -> None:
    rejected = []
    for tenths in range(0, 801):
        payload = set_charging_profile(version, make(tenths / 10), False, VOLTAGE)
        if schema_problem(version, "SetChargingProfile", payload) is not None:
            rejected.append(tenths / 10)
    assert rejected == []


@pytest.mark.parametrize("version", [V16, V201])
def test_watt_limits_at_nominal_voltage_are_schema_valid_over_the_whole_grid(
    version: OcppVersion,
) -> None:
    rejected = []
    for tenths in range(0, 801):
        for phases in (1, 3):
            payload = set_charging_profile(version, tx_profile(tenths / 10, phases), True, VOLTAGE)
            if schema_problem(version, "SetChargingProfile", payload) is not None:
                rejected.append((tenths / 10, phases))
    assert rejected == []


# -- the floor --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [V16, V201])
def test_floor_is_an_endless_tx_default_profile_on_the_whole_charger(
    version: OcppVersion,
) -> None:
    payload = set_charging_profile(version, floor(10.0, 3), False, VOLTAGE)
    profile = profile_of(version, payload)
    schedule = schedule_of(version, payload)
    assert payload["connectorId" if version is V16 else "evseId"] == 0
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    assert profile["chargingProfileKind"] == "Absolute"
    assert profile["stackLevel"] == 8
    assert profile["chargingProfileId" if version is V16 else "id"] == 870000
    assert "transactionId" not in profile
    assert "duration" not in schedule
    started = datetime.fromisoformat(schedule["startSchedule"].replace("Z", "+00:00"))
    assert started < datetime.now(UTC)  # in the past, so it applies at once
    assert schedule["chargingRateUnit"] == "A"
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0, "numberPhases": 3}
    ]


# -- the dynamic limit ------------------------------------------------------------------------


def test_v16_tx_profile_carries_the_integer_transaction_id_duration_and_stack_level() -> None:
    payload = set_charging_profile(V16, tx_profile(16.0, 3), False, VOLTAGE)
    profile = payload["csChargingProfiles"]
    assert payload["connectorId"] == 1
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == 42 and isinstance(profile["transactionId"], int)
    assert profile["stackLevel"] == 9
    assert profile["chargingProfileId"] == 870001
    schedule = profile["chargingSchedule"]
    assert schedule["duration"] == 300
    assert schedule["startSchedule"] == "2025-03-01T12:00:05Z"
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 16.0


def test_v201_tx_profile_carries_the_string_transaction_id_duration_and_stack_level() -> None:
    payload = set_charging_profile(V201, tx_profile(16.0, 3), False, VOLTAGE)
    profile = payload["chargingProfile"]
    assert payload["evseId"] == 1
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == "42"
    assert profile["stackLevel"] == 9
    assert profile["id"] == 870001
    (schedule,) = profile["chargingSchedule"]
    assert schedule["duration"] == 300
    assert schedule["startSchedule"] == "2025-03-01T12:00:05Z"


# -- the charger maximum, for chargers that refuse Tx profiles -----------------------------------


@pytest.mark.parametrize(
    ("version", "purpose"),
    [
        (V16, "ChargePointMaxProfile"),
        (V201, "ChargingStationMaxProfile"),
        (OcppVersion.V21, "ChargingStationMaxProfile"),
    ],
)
def test_station_max_profiles_limit_the_whole_charger_for_no_transaction(
    version: OcppVersion, purpose: str
) -> None:
    floor_payload = set_charging_profile(version, station_max_floor(6.0), False, VOLTAGE)
    limit_payload = set_charging_profile(version, station_max_limit(16.0), False, VOLTAGE)
    for payload in (floor_payload, limit_payload):
        assert payload["connectorId" if version is V16 else "evseId"] == 0
        assert profile_of(version, payload)["chargingProfilePurpose"] == purpose
        assert "transactionId" not in profile_of(version, payload)
        assert schema_problem(version, "SetChargingProfile", payload) is None
    id_key = "chargingProfileId" if version is V16 else "id"
    floor_profile, limit_profile = (
        profile_of(version, floor_payload),
        profile_of(version, limit_payload),
    )
    assert (floor_profile["stackLevel"], floor_profile[id_key]) == (8, 870000)
    assert (limit_profile["stackLevel"], limit_profile[id_key]) == (9, 870001)
    assert "duration" not in schedule_of(version, floor_payload)  # the floor never lapses
    limit_schedule = schedule_of(version, limit_payload)
    assert limit_schedule["duration"] == 300
    assert limit_schedule["startSchedule"] == "2025-03-01T12:00:05Z"
    assert limit_schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3}
    ]


@pytest.mark.parametrize(
    ("version", "payload"),
    [
        (V16, {"id": 870000}),
        (V201, {"chargingProfileId": 870000}),
        (OcppVersion.V21, {"chargingProfileId": 870000}),
    ],
)
def test_clearing_the_floor_names_it_by_id(version: OcppVersion, payload: dict[str, Any]) -> None:
    assert clear_charging_profile(version, 870000) == payload
    assert schema_problem(version, "ClearChargingProfile", payload) is None


def test_start_time_is_written_in_utc() -> None:
    local = START.astimezone(timezone(timedelta(hours=2)))
    target = ProfileTarget(1, 870001, 9, 16.0, 3, transaction_id="42", duration_s=300, start=local)
    payload = set_charging_profile(V201, target, False, VOLTAGE)
    assert payload["chargingProfile"]["chargingSchedule"][0]["startSchedule"] == (
        "2025-03-01T12:00:05Z"
    )


# -- units --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [V16, V201])
@pytest.mark.parametrize(
    ("limit_a", "phases", "voltage", "watts"),
    [(16.0, 3, 230.0, 11040.0), (16.0, 1, 230.0, 3680.0), (10.0, 3, 229.5, 6885.0)],
)
def test_watts_are_amperes_times_voltage_times_phases(
    version: OcppVersion, limit_a: float, phases: int, voltage: float, watts: float
) -> None:
    payload = set_charging_profile(version, tx_profile(limit_a, phases), True, voltage)
    schedule = schedule_of(version, payload)
    assert schedule["chargingRateUnit"] == "W"
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": watts, "numberPhases": phases}
    ]


@pytest.mark.parametrize("version", [V16, V201])
def test_amperes_are_sent_per_phase_with_the_phase_count(version: OcppVersion) -> None:
    payload = set_charging_profile(version, tx_profile(13.5, 1), False, VOLTAGE)
    schedule = schedule_of(version, payload)
    assert schedule["chargingRateUnit"] == "A"
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 13.5, "numberPhases": 1}
    ]


# -- capability queries -------------------------------------------------------------------------


def test_v16_capability_query_asks_for_stack_level_and_rate_unit() -> None:
    action, payload = capability_query(V16)
    assert action == "GetConfiguration"
    assert set(payload["key"]) == {
        "ChargeProfileMaxStackLevel",
        "ChargingScheduleAllowedChargingRateUnit",
    }
    assert schema_problem(V16, action, payload) is None


@pytest.mark.parametrize("version", [V201, OcppVersion.V21])
def test_v2_capability_query_asks_the_smart_charging_controller(version: OcppVersion) -> None:
    action, payload = capability_query(version)
    assert action == "GetVariables"
    asked = {
        (item["component"]["name"], item["variable"]["name"]) for item in payload["getVariableData"]
    }
    assert asked == {
        (SMART_CHARGING_CTRLR, "Enabled"),
        (SMART_CHARGING_CTRLR, "ProfileStackLevel"),
        (SMART_CHARGING_CTRLR, "RateUnit"),
    }
    assert schema_problem(version, action, payload) is None


# -- parsing the answers --------------------------------------------------------------------------


def configuration(**values: str | None) -> dict[str, Any]:
    """A 1.6 GetConfiguration answer: the given keys known, the others unknown."""
    known = [
        {"key": key, "readonly": True, **({} if value is None else {"value": value})}
        for key, value in values.items()
    ]
    asked = ("ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit")
    answer: dict[str, Any] = {"configurationKey": known}
    unknown = [key for key in asked if key not in values]
    if unknown:
        answer["unknownKey"] = unknown
    assert default_registry().check(V16, "GetConfiguration", False, answer) is None
    return answer


@pytest.mark.parametrize(
    ("units", "watts_only"),
    [("Current", False), ("Power", True), ("Current,Power", False), ("Power, Current", False)],
)
def test_v16_rate_units(units: str, watts_only: bool) -> None:
    answer = configuration(
        ChargeProfileMaxStackLevel="8", ChargingScheduleAllowedChargingRateUnit=units
    )
    assert parse_capabilities(V16, answer) == Capabilities(
        smart_charging=True, watts_only=watts_only, max_stack_level=8
    )


def test_v16_missing_keys_mean_amperes_and_no_known_stack_limit() -> None:
    assert parse_capabilities(V16, configuration()) == Capabilities(
        smart_charging=True, watts_only=False, max_stack_level=None
    )


@pytest.mark.parametrize("level", ["\u00b2", "8" * 500, "-1", " "])
def test_a_stack_level_that_is_no_number_is_unknown_not_an_error(level: str) -> None:
    # "²" passes str.isdigit, and int() refuses it; 500 digits are no stack level either.
    answer = configuration(ChargeProfileMaxStackLevel=level)
    assert parse_capabilities(V16, answer).max_stack_level is None


def test_v16_keys_without_values_or_with_garbage_are_ignored() -> None:
    answer = configuration(
        ChargeProfileMaxStackLevel="many", ChargingScheduleAllowedChargingRateUnit=None
    )
    assert parse_capabilities(V16, answer) == Capabilities(
        smart_charging=True, watts_only=False, max_stack_level=None
    )


def variables(*results: tuple[str, str, str | None]) -> dict[str, Any]:
    """A 2.0.1 GetVariables answer from (variable, status, value)."""
    answer = {
        "getVariableResult": [
            {
                "attributeStatus": status,
                "component": {"name": SMART_CHARGING_CTRLR},
                "variable": {"name": name},
                **({} if value is None else {"attributeValue": value}),
            }
            for name, status, value in results
        ]
    }
    assert default_registry().check(V201, "GetVariables", False, answer) is None
    return answer


@pytest.mark.parametrize(("rate_unit", "watts_only"), [("A", False), ("W", True), ("A,W", False)])
def test_v201_rate_units(rate_unit: str, watts_only: bool) -> None:
    answer = variables(
        ("Enabled", "Accepted", "true"),
        ("ProfileStackLevel", "Accepted", "5"),
        ("RateUnit", "Accepted", rate_unit),
    )
    assert parse_capabilities(V201, answer) == Capabilities(
        smart_charging=True, watts_only=watts_only, max_stack_level=5
    )


@pytest.mark.parametrize("enabled", ["false", "FALSE"])
def test_v201_smart_charging_disabled(enabled: str) -> None:
    answer = variables(("Enabled", "Accepted", enabled), ("RateUnit", "Accepted", "A"))
    assert parse_capabilities(V201, answer).smart_charging is False


@pytest.mark.parametrize("status", ["Rejected", "UnknownVariable", "UnknownComponent"])
def test_v201_answers_that_were_not_accepted_are_ignored(status: str) -> None:
    answer = variables(
        ("Enabled", status, "false"),
        ("ProfileStackLevel", status, "3"),
        ("RateUnit", status, "W"),
    )
    assert parse_capabilities(V201, answer) == Capabilities(
        smart_charging=True, watts_only=False, max_stack_level=None
    )


def test_v201_empty_answer_means_defaults() -> None:
    assert parse_capabilities(V201, {"getVariableResult": []}) == Capabilities()


@pytest.mark.parametrize(
    "answer",
    [
        {"getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "false"}]},
        {"getVariableResult": [{"attributeStatus": "Accepted", "variable": "RateUnit"}]},
        {"getVariableResult": "garbage"},
    ],
)
def test_v201_answers_without_the_names_asked_mean_defaults(answer: dict[str, Any]) -> None:
    # The charger's text is read totally: a result that names no component or variable is
    # no answer to what was asked, not a reason for the set-up to fail.
    assert parse_capabilities(V201, answer) == Capabilities()
