"""Observation is total: whatever numbers a charger sends, no exception escapes and every
number in an event is finite (sans-I/O; the live case is in test_frame_hardening.py)."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router import events as ev
from router.frames import OcppVersion
from router.observe import needs_result, observe_charger_request, observe_result

CP = "CP1"
TS = "2026-11-25T10:00:00Z"
REQUESTS = (
    "StatusNotification",
    "MeterValues",
    "StopTransaction",
    "TransactionEvent",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "LogStatusNotification",
)
RESULTS = (
    "BootNotification",
    "StartTransaction",
    "SetChargingProfile",
    "ClearChargingProfile",
    "UpdateFirmware",
    "GetDiagnostics",
    "GetLog",
    "Authorize",
)


def _sampled(value: Any, multiplier: Any = None, unit: str = "A") -> dict[str, Any]:
    unit_of_measure: dict[str, Any] = {"unit": unit}
    if multiplier is not None:
        unit_of_measure["multiplier"] = multiplier
    return {
        "value": value,
        "measurand": "Current.Import",
        "phase": "L1",
        "unitOfMeasure": unit_of_measure,
    }


def _meter_values_201(*sampled: dict[str, Any]) -> dict[str, Any]:
    return {"evseId": 1, "meterValue": [{"timestamp": TS, "sampledValue": list(sampled)}]}


def _numbers(event: ev.Event) -> list[float]:
    found: list[float] = []
    for value in dataclasses.astuple(event):
        values = value if isinstance(value, tuple) else (value,)
        found += [v for v in values if isinstance(v, float)]
    return found


@pytest.mark.parametrize(
    ("value", "multiplier"),
    [
        (16.0, 309),  # 10.0 ** 309 overflows
        (16.0, 400),
        (16.0, 10**400),  # an exponent beyond a float's range
        (16.0, -(10**400)),
        (1e308, 10),  # finite factors, infinite product
        (10**400, 0),  # an integer beyond a float's range
        (float("nan"), 0),
        (float("inf"), 0),
        (-float("inf"), -3),
    ],
)
def test_a_sample_whose_value_is_not_a_finite_float_is_dropped_without_an_exception(
    value: Any, multiplier: int
) -> None:
    payload = _meter_values_201(_sampled(value, multiplier), _sampled(6.0, 1, "A"))
    events = observe_charger_request(CP, OcppVersion.V201, "MeterValues", payload)
    # The bad sample is dropped; the good one in the same message is still observed.
    assert events == [ev.MeterSampled(CP, 1, None, (60.0, None, None), None, None)]


@pytest.mark.parametrize(("value", "multiplier", "current"), [(16000, -3, 16.0), (5.0, -400, 0.0)])
def test_negative_multipliers_scale_down(value: float, multiplier: int, current: float) -> None:
    payload = _meter_values_201(_sampled(value, multiplier))
    events = observe_charger_request(CP, OcppVersion.V201, "MeterValues", payload)
    assert events == [ev.MeterSampled(CP, 1, None, (current, None, None), None, None)]


@pytest.mark.parametrize("text", ["1e999", "-1e999", "nan", "inf", "1" * 400, "x"])
def test_16_string_values_that_are_not_finite_numbers_are_dropped(text: str) -> None:
    payload = {
        "connectorId": 1,
        "meterValue": [{"timestamp": TS, "sampledValue": [{"value": text, "unit": "Wh"}]}],
    }
    assert observe_charger_request(CP, OcppVersion.V16, "MeterValues", payload) == []


def test_16_stop_transaction_with_a_meter_stop_beyond_a_float_is_observed_without_it() -> None:
    payload = {"transactionId": 7, "meterStop": 10**400, "timestamp": TS}
    events = observe_charger_request(CP, OcppVersion.V16, "StopTransaction", payload)
    assert events == [ev.TransactionEnded(CP, "7", None, None, None)]


def test_16_start_transaction_with_a_meter_start_beyond_a_float_is_observed_without_it() -> None:
    request = {"connectorId": 1, "idTag": "T", "meterStart": 10**400, "timestamp": TS}
    response = {"transactionId": 5, "idTagInfo": {"status": "Accepted"}}
    events = observe_result(CP, OcppVersion.V16, "StartTransaction", True, request, response)
    assert events == [ev.TransactionStarted(CP, "5", 1, "T", None)]


TX_STARTED = {
    "eventType": "Started",
    "timestamp": TS,
    "triggerReason": "Authorized",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "tx-1"},
    "evse": {"id": 2},
    "idToken": {"idToken": "TAG", "type": "ISO14443"},
}


def test_201_transaction_event_answer_gives_the_transaction_its_priority() -> None:
    response = {"idTokenInfo": {"status": "Accepted", "chargingPriority": 3}}
    events = observe_result(CP, OcppVersion.V201, "TransactionEvent", True, TX_STARTED, response)
    assert events == [ev.TransactionPrioritised(CP, "tx-1", 2, 3)]


def test_201_the_answers_own_priority_overrules_its_id_token_infos() -> None:
    response = {
        "chargingPriority": -2,
        "idTokenInfo": {"status": "Accepted", "chargingPriority": 3},
    }
    events = observe_result(CP, OcppVersion.V201, "TransactionEvent", True, TX_STARTED, response)
    assert events == [ev.TransactionPrioritised(CP, "tx-1", 2, -2)]


def test_201_a_priority_beyond_the_specs_range_is_held_to_it() -> None:
    response = {"chargingPriority": 10**400}
    events = observe_result(CP, OcppVersion.V201, "TransactionEvent", True, TX_STARTED, response)
    assert events == [ev.TransactionPrioritised(CP, "tx-1", 2, 9)]


def test_201_an_answer_without_a_priority_or_to_an_ended_transaction_says_nothing() -> None:
    assert observe_result(CP, OcppVersion.V201, "TransactionEvent", True, TX_STARTED, {}) == []
    ended = {**TX_STARTED, "eventType": "Ended"}
    response = {"chargingPriority": 4}
    assert observe_result(CP, OcppVersion.V201, "TransactionEvent", True, ended, response) == []


def test_201_authorize_answer_gives_the_id_token_its_priority() -> None:
    request = {"idToken": {"idToken": "TAG", "type": "ISO14443"}}
    response = {"idTokenInfo": {"status": "Accepted", "chargingPriority": 5}}
    events = observe_result(CP, OcppVersion.V201, "Authorize", True, request, response)
    assert events == [ev.IdTokenPrioritised(CP, "TAG", 5)]
    v16 = observe_result(CP, OcppVersion.V16, "Authorize", True, {"idTag": "TAG"}, response)
    assert v16 == []


# Any JSON a parser can return, numbers at their extremes included.
_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([309, 400, -400, 10**308, 1e308, "1e999", "nan", "-inf"]),
)
_JSON = st.recursive(
    st.none() | st.booleans() | _NUMBERS | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children)
    ),
    max_leaves=8,
)
# Payload-shaped JSON: the field names observation reads, with any values under them.
_FIELDS = st.sampled_from(
    [
        "connectorId", "evseId", "status", "connectorStatus", "transactionId", "meterValue",
        "sampledValue", "value", "unitOfMeasure", "unit", "multiplier", "measurand", "phase",
        "meterStop", "meterStart", "transactionInfo", "evse", "id", "eventType", "idToken",
        "chargingState", "stoppedReason", "chargingStation", "vendorName", "model", "interval",
        "chargePointVendor", "chargePointModel", "csChargingProfiles", "chargingProfile",
        "chargingPriority", "idTokenInfo",
    ]
)  # fmt: skip
_PAYLOADS = st.recursive(
    st.dictionaries(_FIELDS, _JSON, max_size=6),
    lambda children: st.dictionaries(_FIELDS, children | st.lists(children, max_size=3)),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from(list(OcppVersion)),
    action=st.sampled_from(REQUESTS + RESULTS),
    request=_PAYLOADS,
    response=_PAYLOADS,
    charger_originated=st.booleans(),
)
def test_observation_never_raises_and_reports_only_finite_numbers(
    version: OcppVersion,
    action: str,
    request: dict[str, Any],
    response: dict[str, Any],
    charger_originated: bool,
) -> None:
    events = observe_charger_request(CP, version, action, request)
    if needs_result(action, charger_originated):
        events += observe_result(CP, version, action, charger_originated, request, response)
    for event in events:
        assert all(math.isfinite(number) for number in _numbers(event)), event


def test_a_payload_parsed_from_text_with_nan_and_huge_numbers_is_observed_safely() -> None:
    text = (
        '{"evseId":1,"meterValue":[{"timestamp":"' + TS + '","sampledValue":['
        '{"value":NaN},{"value":Infinity},{"value":1' + "0" * 400 + "},"
        '{"value":2,"unitOfMeasure":{"multiplier":1' + "0" * 400 + "}},"
        '{"value":1500}]}]}'
    )
    payload = json.loads(text)
    events = observe_charger_request(CP, OcppVersion.V201, "MeterValues", payload)
    assert events == [ev.MeterSampled(CP, 1, None, (None, None, None), None, 1500.0)]


@pytest.mark.parametrize(
    ("version", "action", "request_payload", "response", "expected"),
    [
        (
            OcppVersion.V16,
            "GetDiagnostics",
            {"location": "ftp://h/"},
            {},
            ev.TransferRequested(CP, "log", "ftp://h/", None, "NothingToUpload"),
        ),
        (
            OcppVersion.V201,
            "GetLog",
            {"logType": "DiagnosticsLog", "requestId": 4, "log": {"remoteLocation": "ftp://h/"}},
            {"status": "Rejected"},
            ev.TransferRequested(CP, "log", "ftp://h/", 4, "Rejected"),
        ),
        (
            OcppVersion.V16,
            "UpdateFirmware",
            {"location": "http://h/fw", "retrieveDate": TS},
            {},
            ev.TransferRequested(CP, "firmware", "http://h/fw", None, "Accepted"),
        ),
    ],
)
def test_transfer_requests_and_their_answers(
    version: OcppVersion,
    action: str,
    request_payload: dict[str, Any],
    response: dict[str, Any],
    expected: ev.Event,
) -> None:
    assert needs_result(action, charger_originated=False)
    assert observe_result(CP, version, action, False, request_payload, response) == [expected]
