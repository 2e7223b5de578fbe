"""What the LC answers a charger itself under `hold` (Part 4 §6.3, errata 2025-02).

Every answer must be one a CSMS could give: each is checked against the official response
schema, and the requests fed in are checked against the official request schema first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocpp_knowledge.ocpp_time import to_ocpp_time
from router.frames import OcppVersion
from router.local_answers import (
    BootAnswer,
    OfflineAuthorization,
    is_journaled,
    local_answer,
)
from router.schemas import SCHEMA_ROOT, default_registry

V16, V201 = OcppVersion.V16, OcppVersion.V201
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
NOW_TEXT = "2026-11-25T10:00:00.000Z"
TS = "2026-11-25T09:59:00Z"
INTERVAL = 123
BOOT_ANSWER = BootAnswer("Accepted", INTERVAL)
PROVISIONAL = -7
ACCEPTED = {"status": "Accepted"}
INVALID = {"status": "Invalid"}

REGISTRY = default_registry()
NOBODY = OfflineAuthorization({}, frozenset(), False)
LOCAL_ONLY = OfflineAuthorization({}, frozenset({"LOCAL"}), False)


def no_provisional_id() -> int:
    raise AssertionError("only a 1.6 StartTransaction takes a provisional id")


def answer(
    version: OcppVersion,
    action: str,
    payload: dict[str, Any],
    authorization: OfflineAuthorization = LOCAL_ONLY,
    now: datetime = NOW,
    boot: BootAnswer = BOOT_ANSWER,
) -> dict[str, Any] | None:
    assert REGISTRY.check(version, action, True, payload) is None, "the test's request is invalid"
    provisional = (lambda: PROVISIONAL) if action == "StartTransaction" else no_provisional_id
    return local_answer(version, action, payload, now, boot, authorization, provisional, REGISTRY)


def token_201(token: str) -> dict[str, str]:
    return {"idToken": token, "type": "ISO14443"}


SAMPLE_16 = [{"timestamp": TS, "sampledValue": [{"value": "16", "measurand": "Current.Import"}]}]
SAMPLE_201 = [{"timestamp": TS, "sampledValue": [{"value": 16, "measurand": "Current.Import"}]}]
TRANSACTION_201 = {
    "eventType": "Started",
    "timestamp": TS,
    "triggerReason": "Authorized",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "tx-1"},
    "evse": {"id": 1, "connectorId": 1},
}
NOTIFY_EVENT = {
    "generatedAt": TS,
    "seqNo": 0,
    "eventData": [
        {
            "eventId": 1,
            "timestamp": TS,
            "trigger": "Delta",
            "actualValue": "Occupied",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "Connector"},
            "variable": {"name": "AvailabilityState"},
        }
    ],
}
BOOT = {"status": "Accepted", "currentTime": NOW_TEXT, "interval": INTERVAL}

# (version, action, request, the exact answer)
ANSWERS: list[tuple[OcppVersion, str, dict[str, Any], dict[str, Any]]] = [
    (V16, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}, BOOT),
    (
        V201,
        "BootNotification",
        {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"},
        BOOT,
    ),
    (V16, "Heartbeat", {}, {"currentTime": NOW_TEXT}),
    (V201, "Heartbeat", {}, {"currentTime": NOW_TEXT}),
    (
        V16,
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
        {},
    ),
    (
        V201,
        "StatusNotification",
        {"timestamp": TS, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        {},
    ),
    (V16, "Authorize", {"idTag": "LOCAL"}, {"idTagInfo": ACCEPTED}),
    (V16, "Authorize", {"idTag": "STRANGER"}, {"idTagInfo": INVALID}),
    (V201, "Authorize", {"idToken": token_201("LOCAL")}, {"idTokenInfo": ACCEPTED}),
    (V201, "Authorize", {"idToken": token_201("STRANGER")}, {"idTokenInfo": INVALID}),
    (
        V16,
        "StartTransaction",
        {"connectorId": 1, "idTag": "LOCAL", "meterStart": 0, "timestamp": TS},
        {"transactionId": PROVISIONAL, "idTagInfo": ACCEPTED},
    ),
    (
        V16,
        "StartTransaction",
        {"connectorId": 1, "idTag": "STRANGER", "meterStart": 0, "timestamp": TS},
        {"transactionId": PROVISIONAL, "idTagInfo": INVALID},
    ),
    (
        V16,
        "StopTransaction",
        {"meterStop": 9, "timestamp": TS, "transactionId": -1, "idTag": "LOCAL"},
        {"idTagInfo": ACCEPTED},
    ),
    (V16, "StopTransaction", {"meterStop": 9, "timestamp": TS, "transactionId": -1}, {}),
    (V16, "MeterValues", {"connectorId": 1, "transactionId": -1, "meterValue": SAMPLE_16}, {}),
    (V16, "MeterValues", {"connectorId": 1, "meterValue": SAMPLE_16}, {}),
    (V201, "MeterValues", {"evseId": 1, "meterValue": SAMPLE_201}, {}),
    (
        V201,
        "TransactionEvent",
        {**TRANSACTION_201, "idToken": token_201("LOCAL")},
        {"idTokenInfo": ACCEPTED},
    ),
    (
        V201,
        "TransactionEvent",
        {**TRANSACTION_201, "idToken": token_201("STRANGER")},
        {"idTokenInfo": INVALID},
    ),
    (V201, "TransactionEvent", TRANSACTION_201, {}),
    (
        V16,
        "DataTransfer",
        {"vendorId": "acme", "messageId": "x", "data": "y"},
        {"status": "Rejected"},
    ),
    (
        V201,
        "DataTransfer",
        {"vendorId": "acme", "messageId": "x", "data": "y"},
        {"status": "Rejected"},
    ),
    (V16, "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": TS}, {}),
    (V201, "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": TS}, {}),
    (V16, "FirmwareStatusNotification", {"status": "Downloaded"}, {}),
    (V201, "FirmwareStatusNotification", {"status": "Downloaded"}, {}),
    (V16, "DiagnosticsStatusNotification", {"status": "Uploaded"}, {}),
    (V201, "NotifyEvent", NOTIFY_EVENT, {}),
]


@pytest.mark.parametrize(
    ("version", "action", "request_payload", "expected"),
    ANSWERS,
    ids=[f"{v.value}-{a}-{n}" for n, (v, a, _, _) in enumerate(ANSWERS)],
)
def test_local_answer_is_what_a_csms_would_say_and_schema_valid(
    version: OcppVersion, action: str, request_payload: dict[str, Any], expected: dict[str, Any]
) -> None:
    got = answer(version, action, request_payload)
    assert got == expected
    assert REGISTRY.check(version, action, False, got) is None


@pytest.mark.parametrize("version", [V16, V201])
@pytest.mark.parametrize("interval", [0, 60, 86400])
def test_boot_answer_carries_the_given_interval(version: OcppVersion, interval: int) -> None:
    payload = (
        {"chargePointVendor": "V", "chargePointModel": "M"}
        if version is V16
        else {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}
    )
    for status in ("Accepted", "Pending", "Rejected"):
        got = answer(version, "BootNotification", payload, boot=BootAnswer(status, interval))
        assert got is not None and (got["status"], got["interval"]) == (status, interval)
        assert REGISTRY.check(version, "BootNotification", False, got) is None


def test_current_time_is_utc_with_milliseconds_whatever_the_clock_zone() -> None:
    local = datetime(2026, 11, 25, 12, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    assert to_ocpp_time(local) == "2026-11-25T10:00:00.250Z"
    got = answer(V16, "Heartbeat", {}, now=local)
    assert got == {"currentTime": "2026-11-25T10:00:00.250Z"}
    assert datetime.fromisoformat(got["currentTime"].replace("Z", "+00:00")) == local


def test_start_transaction_takes_exactly_one_provisional_id() -> None:
    taken: list[int] = []

    def take() -> int:
        taken.append(-3 - len(taken))
        return taken[-1]

    payload = {"connectorId": 1, "idTag": "LOCAL", "meterStart": 0, "timestamp": TS}
    got = local_answer(
        V16, "StartTransaction", payload, NOW, BOOT_ANSWER, LOCAL_ONLY, take, REGISTRY
    )
    assert taken == [-3]
    assert got == {"transactionId": -3, "idTagInfo": ACCEPTED}


# (version, action, request) whose answer needs data only the CSMS has (a required `status`
# about certificates or charging needs): no answer, the charger gets a CALLERROR instead.
NO_ANSWER: list[tuple[OcppVersion, str, dict[str, Any]]] = [
    (V16, "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
    (V201, "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
    (
        V201,
        "Get15118EVCertificate",
        {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Install",
            "exiRequest": "AA",
        },
    ),
    (
        V201,
        "GetCertificateStatus",
        {
            "ocspRequestData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a",
                "issuerKeyHash": "b",
                "serialNumber": "c",
                "responderURL": "http://ocsp.example",
            }
        },
    ),
    (
        V201,
        "NotifyEVChargingNeeds",
        {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC"}},
    ),
    (
        V201,
        "NotifyEVChargingSchedule",
        {
            "timeBase": TS,
            "evseId": 1,
            "chargingSchedule": {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("version", "action", "request_payload"),
    NO_ANSWER,
    ids=[f"{v.value}-{a}" for v, a, _ in NO_ANSWER],
)
def test_no_answer_when_the_response_needs_data_the_lc_cannot_invent(
    version: OcppVersion, action: str, request_payload: dict[str, Any]
) -> None:
    assert REGISTRY.check(version, action, False, {}) is not None  # the schema demands more
    assert answer(version, action, request_payload) is None


def _request_actions(version: OcppVersion) -> list[str]:
    folders = {V16: ("v1.6", "v1.6-security"), V201: ("v2.0.1",)}[version]
    root = Path(str(SCHEMA_ROOT))  # files in the checkout
    names = [f.stem for folder in folders for f in (root / folder).glob("*.json")]
    if version is V16:
        return sorted(n for n in names if not n.endswith("Response"))
    return sorted(n.removesuffix("Request") for n in names if n.endswith("Request"))


@pytest.mark.parametrize("version", [V16, V201])
def test_whatever_is_answered_for_any_action_is_schema_valid(version: OcppVersion) -> None:
    """Every action of the version (even ones a charger never sends): None or a valid answer."""
    actions = _request_actions(version)
    assert len(actions) > 25
    answered = 0
    for action in actions:
        got = local_answer(version, action, {}, NOW, BOOT_ANSWER, NOBODY, lambda: -1, REGISTRY)
        if got is not None:
            answered += 1
            assert REGISTRY.check(version, action, False, got) is None, action
    assert answered > 10


# -- OfflineAuthorization ----------------------------------------------------------------------


def test_cached_info_is_used_until_its_expiry() -> None:
    info = {"status": "Accepted", "expiryDate": "2026-11-25T11:00:00Z"}
    expiry = NOW.timestamp() + 3600
    auth = OfflineAuthorization({"TAG": (info, expiry)}, frozenset(), False)
    assert auth.info("TAG", NOW) == info
    assert auth.info("TAG", NOW + timedelta(seconds=3599)) == info
    assert auth.info("TAG", NOW + timedelta(seconds=3600)) == INVALID  # expiry itself is past
    assert auth.info("TAG", NOW + timedelta(days=1)) == INVALID


def test_cached_info_without_expiry_never_expires() -> None:
    blocked = {"status": "Blocked"}
    auth = OfflineAuthorization({"TAG": (blocked, None)}, frozenset(), True)
    assert auth.info("TAG", NOW + timedelta(days=3650)) == blocked


def test_fresh_cached_refusal_wins_over_local_list_and_accept_unknown() -> None:
    blocked = {"status": "Blocked"}
    auth = OfflineAuthorization({"TAG": (blocked, NOW.timestamp() + 60)}, frozenset({"TAG"}), True)
    assert auth.info("TAG", NOW) == blocked


@pytest.mark.parametrize(
    ("local_list", "accept_unknown", "expected"),
    [
        (frozenset({"TAG"}), False, ACCEPTED),
        (frozenset(), True, ACCEPTED),
        (frozenset({"OTHER"}), False, INVALID),
    ],
)
def test_expired_entry_falls_back_to_local_list_then_accept_unknown_then_invalid(
    local_list: frozenset[str], accept_unknown: bool, expected: dict[str, str]
) -> None:
    stale = {"status": "Blocked"}
    auth = OfflineAuthorization({"TAG": (stale, NOW.timestamp() - 1)}, local_list, accept_unknown)
    assert auth.info("TAG", NOW) == expected
    assert auth.info("UNCACHED", NOW) == (ACCEPTED if accept_unknown else INVALID)


@given(
    cached=st.booleans(),
    offset_s=st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
    listed=st.booleans(),
    accept_unknown=st.booleans(),
)
def test_authorization_decision_table(
    cached: bool, offset_s: float | None, listed: bool, accept_unknown: bool
) -> None:
    stored = {"status": "ConcurrentTx"}
    expiry = None if offset_s is None else NOW.timestamp() + offset_s
    cache = {"T": (stored, expiry)} if cached else {}
    auth = OfflineAuthorization(cache, frozenset({"T"}) if listed else frozenset(), accept_unknown)
    fresh = cached and (expiry is None or expiry > NOW.timestamp())
    if fresh:
        expected = stored
    elif listed or accept_unknown:
        expected = ACCEPTED
    else:
        expected = INVALID
    assert auth.info("T", NOW) == expected


@pytest.mark.parametrize(
    ("version", "action", "payload", "info_key"),
    [
        (V16, "Authorize", {"idTag": "TAG"}, "idTagInfo"),
        (
            V16,
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": TS},
            "idTagInfo",
        ),
        (
            V16,
            "StopTransaction",
            {"meterStop": 1, "timestamp": TS, "transactionId": -1, "idTag": "TAG"},
            "idTagInfo",
        ),
        (V201, "Authorize", {"idToken": token_201("TAG")}, "idTokenInfo"),
        (V201, "TransactionEvent", {**TRANSACTION_201, "idToken": token_201("TAG")}, "idTokenInfo"),
    ],
)
def test_answers_use_the_cache_until_expiry_then_fall_back(
    version: OcppVersion, action: str, payload: dict[str, Any], info_key: str
) -> None:
    cached = {"status": "Accepted", "parentIdTag" if version is V16 else "language1": "en"}
    auth = OfflineAuthorization({"TAG": (cached, NOW.timestamp() + 10)}, frozenset(), False)
    before = answer(version, action, payload, authorization=auth)
    after = answer(version, action, payload, authorization=auth, now=NOW + timedelta(seconds=10))
    assert before is not None and before[info_key] == cached
    assert after is not None and after[info_key] == INVALID
    assert REGISTRY.check(version, action, False, before) is None
    assert REGISTRY.check(version, action, False, after) is None


# -- what must reach the CSMS later -----------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "action", "payload", "journaled"),
    [
        (V16, "StartTransaction", {}, True),
        (V16, "StopTransaction", {"transactionId": -1}, True),
        (V16, "MeterValues", {"connectorId": 1, "transactionId": -1}, True),
        (V16, "MeterValues", {"connectorId": 1}, False),
        (V16, "SecurityEventNotification", {}, True),
        (V16, "StatusNotification", {}, False),
        (V16, "Heartbeat", {}, False),
        (V16, "BootNotification", {}, True),
        (V16, "Authorize", {}, False),
        (V16, "DataTransfer", {}, False),
        (V16, "FirmwareStatusNotification", {}, True),
        (V16, "TransactionEvent", {}, False),
        (V201, "TransactionEvent", {}, True),
        (V201, "SecurityEventNotification", {}, True),
        (V201, "MeterValues", {"evseId": 1, "transactionId": "tx-1"}, False),
        (V201, "StartTransaction", {}, False),
        (V201, "StatusNotification", {}, False),
        (V201, "NotifyEvent", {}, True),
        (V201, "Authorize", {}, False),
        (V201, "Heartbeat", {}, False),
        (V16, "DiagnosticsStatusNotification", {}, True),
        (V201, "BootNotification", {}, True),
        (V201, "FirmwareStatusNotification", {}, True),
        (V201, "LogStatusNotification", {}, True),
        (V201, "NotifyReport", {}, True),
        (V201, "NotifyEVChargingNeeds", {}, False),  # its answer mattered then
        (V201, "SignCertificate", {}, False),
        (V201, "DataTransfer", {}, False),
    ],
)
def test_is_journaled(
    version: OcppVersion, action: str, payload: dict[str, Any], journaled: bool
) -> None:
    assert is_journaled(version, action, payload) is journaled
