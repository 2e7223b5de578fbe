"""What the LC asks of a charger whose replayed transaction the CSMS refused (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from router.frames import OcppVersion
from router.invalid_id import (
    CONSERVATIVE_RULE,
    FALLBACK_STACK_LEVEL,
    SUSPEND_PROFILE_ID_BASE,
    Ask,
    Finished,
    InvalidIdRule,
    Refusal,
    Unanswered,
    outcome,
    parse_rule,
    rule_query,
    stop_request,
    suspend_profile_id,
    suspend_request,
)
from router.schemas import default_registry

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
REGISTRY = default_registry()
ALL = [V16, V201, V21]


def valid(version: OcppVersion, action: str, payload: dict[str, Any]) -> bool:
    return REGISTRY.check(version, action, True, payload) is None


def answer16(rule: Any = None, stack: Any = None) -> dict[str, Any]:
    keys = []
    if rule is not None:
        keys.append({"key": "StopTransactionOnInvalidId", "readonly": False, "value": rule})
    if stack is not None:
        keys.append({"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": stack})
    return {"configurationKey": keys}


def answer201(rule: Any = None, stack: Any = None, status: str = "Accepted") -> dict[str, Any]:
    results = []
    for component, variable, value in [
        ("TxCtrlr", "StopTxOnInvalidId", rule),
        ("SmartChargingCtrlr", "ProfileStackLevel", stack),
    ]:
        item: dict[str, Any] = {
            "attributeStatus": status if value is not None else "UnknownVariable",
            "component": {"name": component},
            "variable": {"name": variable},
        }
        if value is not None:
            item["attributeValue"] = value
        results.append(item)
    return {"getVariableResult": results}


@pytest.mark.parametrize("version", ALL)
def test_the_rule_and_the_stack_level_are_read_in_one_schema_valid_call(
    version: OcppVersion,
) -> None:
    action, payload = rule_query(version)
    assert valid(version, action, payload)
    if version is V16:
        assert (action, payload) == (
            "GetConfiguration",
            {"key": ["StopTransactionOnInvalidId", "ChargeProfileMaxStackLevel"]},
        )
    else:
        assert action == "GetVariables"
        asked = [
            (d["component"]["name"], d["variable"]["name"]) for d in payload["getVariableData"]
        ]
        assert asked == [
            ("TxCtrlr", "StopTxOnInvalidId"),
            ("SmartChargingCtrlr", "ProfileStackLevel"),
        ]


@pytest.mark.parametrize(
    ("rule", "stack", "expected"),
    [
        ("true", "5", InvalidIdRule(True, 5)),
        ("false", "5", InvalidIdRule(False, 5)),
        ("False", " 3 ", InvalidIdRule(False, 3)),
        ("TRUE", None, InvalidIdRule(True, None)),
        ("false", None, InvalidIdRule(False, None)),
        (None, "5", InvalidIdRule(True, 5)),  # absent: stop
        ("no", "5", InvalidIdRule(True, 5)),  # garbage: stop
        ("0", "x", InvalidIdRule(True, None)),
        ("false", "-1", InvalidIdRule(False, None)),
        ("false", "²", InvalidIdRule(False, None)),  # a digit to str.isdigit, not to int()
        ("false", "9" * 5000, InvalidIdRule(False, None)),  # beyond int()'s digit limit
    ],
)
def test_the_rule_is_parsed_and_anything_unreadable_means_stop(
    rule: str | None, stack: str | None, expected: InvalidIdRule
) -> None:
    assert parse_rule(V16, answer16(rule, stack)) == expected
    assert parse_rule(V201, answer201(rule, stack)) == expected


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"configurationKey": "garbage", "getVariableResult": 7},
        {"configurationKey": [1, None], "getVariableResult": [1, {"component": "x"}]},
        {"unknownKey": ["StopTransactionOnInvalidId"]},
    ],
)
def test_garbage_answers_mean_stop(version: OcppVersion, answer: dict[str, Any]) -> None:
    assert parse_rule(version, answer) == CONSERVATIVE_RULE


def test_201_values_the_charger_did_not_accept_are_ignored() -> None:
    assert parse_rule(V201, answer201("false", "4", status="Rejected")) == CONSERVATIVE_RULE
    # A 1.6-shaped answer means nothing to 2.0.1 and the other way round.
    assert parse_rule(V201, answer16("false", "4")) == CONSERVATIVE_RULE
    assert parse_rule(V16, answer201("false", "4")) == CONSERVATIVE_RULE


def test_the_stop_is_what_the_csms_would_ask() -> None:
    assert stop_request(V16, -3) == ("RemoteStopTransaction", {"transactionId": -3})
    assert stop_request(V201, "tx-1") == ("RequestStopTransaction", {"transactionId": "tx-1"})
    stops: list[tuple[OcppVersion, int | str]] = [(V16, -3), (V201, "tx-1"), (V21, "tx-1")]
    for version, transaction_id in stops:
        assert valid(version, *stop_request(version, transaction_id))


def test_16_suspension_is_a_zero_tx_profile_at_the_highest_stack_level() -> None:
    action, payload = suspend_request(V16, -3, 2, 7)
    assert action == "SetChargingProfile" and valid(V16, action, payload)
    assert payload == {
        "connectorId": 2,
        "csChargingProfiles": {
            "chargingProfileId": SUSPEND_PROFILE_ID_BASE + 2,
            "stackLevel": 7,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "transactionId": -3,
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": "2020-01-01T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.0}],
            },
        },
    }


@pytest.mark.parametrize("version", [V201, V21])
def test_201_suspension_is_a_zero_tx_profile_at_the_highest_stack_level(
    version: OcppVersion,
) -> None:
    action, payload = suspend_request(version, "tx-1", 1, 3)
    assert action == "SetChargingProfile" and valid(version, action, payload)
    profile = payload["chargingProfile"]
    assert payload["evseId"] == 1
    assert profile["id"] == suspend_profile_id(1) and profile["stackLevel"] == 3
    assert (profile["chargingProfilePurpose"], profile["transactionId"]) == ("TxProfile", "tx-1")
    (schedule,) = profile["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "A" and "duration" not in schedule
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 0.0}]


@pytest.mark.parametrize(("version", "transaction_id"), [(V16, -1), (V201, "tx-1")])
def test_unknown_stack_level_falls_back_to_the_constant(
    version: OcppVersion, transaction_id: int | str
) -> None:
    action, payload = suspend_request(version, transaction_id, 1, None)
    assert valid(version, action, payload)
    profile = payload.get("csChargingProfiles") or payload["chargingProfile"]
    assert profile["stackLevel"] == FALLBACK_STACK_LEVEL


def test_suspension_profile_ids_stay_clear_of_the_balancers_default_range() -> None:
    balancer_default = range(870000, 870000 + 1000)
    assert all(suspend_profile_id(evse) not in balancer_default for evse in range(100))
    assert suspend_profile_id(1) != suspend_profile_id(2)


# -- the steps for one refused transaction ------------------------------------------------------

ACCEPTED = {"status": "Accepted"}
REJECTED = {"status": "Rejected"}


def steps(refusal: Refusal, *replies: dict[str, Any] | Unanswered) -> tuple[list[str], Finished]:
    """The steps asked, fed `replies` in turn, and how it finished."""
    asked: list[str] = []
    step: Ask | Finished = refusal.start()
    for reply in replies:
        assert isinstance(step, Ask), (asked, step)
        asked.append(step.step)
        step = refusal.answered(reply)
    assert isinstance(step, Finished), (asked, step)
    return asked, step


@pytest.mark.parametrize("version", [V16, V201])
def test_rule_true_stops_and_the_answer_settles_it(version: OcppVersion) -> None:
    rule = answer16("true") if version is V16 else answer201("true")
    refusal = Refusal(version, 7 if version is V16 else "tx-7", 1)
    assert steps(refusal, rule, ACCEPTED) == (["rule", "stop"], Finished(False, settled=True))


def test_rule_false_suspends_at_the_highest_stack_level_and_keeps_the_refusal() -> None:
    refusal = Refusal(V201, "tx-7", 2)
    assert refusal.start() == Ask("rule", *rule_query(V201))
    suspend = refusal.answered(answer201("false", "5"))
    assert suspend == Ask("suspend", *suspend_request(V201, "tx-7", 2, 5))
    assert refusal.answered(ACCEPTED) == Finished(suspended=True, settled=False)


@pytest.mark.parametrize("reply", [REJECTED, Unanswered.CALL_ERROR, Unanswered.TIMEOUT])
def test_a_suspension_not_accepted_becomes_a_stop(reply: dict[str, Any] | Unanswered) -> None:
    refusal = Refusal(V16, -3, 1)
    asked, finished = steps(refusal, answer16("false"), reply, ACCEPTED)
    assert asked == ["rule", "suspend", "stop"] and not finished.suspended
    assert "suspension was not accepted" in refusal.why_stopped


def test_rule_false_with_the_evse_unknown_stops() -> None:
    refusal = Refusal(V201, "tx-7", None)
    assert steps(refusal, answer201("false"), ACCEPTED) == (["rule", "stop"], Finished(False, True))
    assert "EVSE is unknown" in refusal.why_stopped


@pytest.mark.parametrize("reply", [Unanswered.CALL_ERROR, Unanswered.TIMEOUT])
def test_an_unreadable_rule_stops(reply: Unanswered) -> None:
    refusal = Refusal(V16, -3, 1)
    assert steps(refusal, reply, ACCEPTED) == (["rule", "stop"], Finished(False, settled=True))
    assert "could not be read" in refusal.why_stopped


@pytest.mark.parametrize(
    ("reply", "settled"),
    [
        (ACCEPTED, True),
        (REJECTED, True),
        (Unanswered.CALL_ERROR, True),
        (Unanswered.TIMEOUT, False),
    ],
)
def test_only_an_answered_stop_settles_the_refusal(
    reply: dict[str, Any] | Unanswered, settled: bool
) -> None:
    refusal = Refusal(V16, -3, 1)
    assert steps(refusal, answer16("true"), reply)[1] == Finished(False, settled=settled)


def test_outcomes() -> None:
    assert outcome(ACCEPTED) == "accepted"
    assert outcome(REJECTED) == outcome({}) == outcome(Unanswered.CALL_ERROR) == "rejected"
    assert outcome(Unanswered.TIMEOUT) == "timeout"
