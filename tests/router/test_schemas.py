"""The vendored official OCPP JSON schemas and the error kind each violation maps to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import exceptions as schema_exceptions

from router.frames import ErrorKind, OcppVersion
from router.schemas import EXPLAINED_ERRORS, SCHEMA_ROOT, SchemaRegistry, default_registry

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
TS = "2026-11-25T10:00:00Z"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return default_registry()


_FOLDERS = {V16: ("v1.6", "v1.6-security"), V201: ("v2.0.1",), V21: ("v2.1",)}


def _messages(version: OcppVersion) -> list[tuple[str, bool]]:
    """(action, is_request) for every vendored schema file of `version`."""
    found = []
    for folder in _FOLDERS[version]:
        for file in sorted((Path(str(SCHEMA_ROOT)) / folder).glob("*.json")):
            if file.stem.endswith("Response"):
                found.append((file.stem.removesuffix("Response"), False))
            else:
                found.append((file.stem.removesuffix("Request"), True))
    return found


# -- loading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", list(_FOLDERS))
def test_every_vendored_request_schema_is_known(
    registry: SchemaRegistry, version: OcppVersion
) -> None:
    actions = {action for action, is_request in _messages(version) if is_request}
    assert len(actions) > 20
    assert sorted(action for action in actions if not registry.knows(version, action)) == []


@pytest.mark.parametrize(
    ("version", "action"),
    [
        (V16, "BootNotification"),
        (V16, "SecurityEventNotification"),
        (V16, "SignedUpdateFirmware"),
        (V16, "ExtendedTriggerMessage"),
        (V201, "TransactionEvent"),
        (V201, "SetChargingProfile"),
        (V21, "BatterySwap"),
        (V21, "NotifyPeriodicEventStream"),  # a SEND: no Request suffix, no response
    ],
)
def test_registry_knows_actions_of_each_version(
    registry: SchemaRegistry, version: OcppVersion, action: str
) -> None:
    assert registry.knows(version, action)


@pytest.mark.parametrize(
    ("version", "action"),
    [
        (V16, "TransactionEvent"),  # 2.0.1 only
        (V201, "StartTransaction"),  # 1.6 only
        (V201, "BatterySwap"),  # 2.1 only
        (V201, "SecurityEventNotificationRequest"),  # the file name, not the action
        (V16, "BootNotificationResponse"),
    ],
)
def test_registry_does_not_mix_versions_or_file_names(
    registry: SchemaRegistry, version: OcppVersion, action: str
) -> None:
    assert not registry.knows(version, action)


def test_ocpp16_security_actions_validate_against_their_schema(registry: SchemaRegistry) -> None:
    request = {"type": "FirmwareUpdated", "timestamp": TS}
    assert registry.check(V16, "SecurityEventNotification", True, request) is None
    assert registry.check(V16, "SecurityEventNotification", False, {}) is None
    missing = registry.check(V16, "SecurityEventNotification", True, {"type": "x"})
    assert missing is not None and missing.kind is ErrorKind.OCCURRENCE


def test_registry_from_an_empty_folder_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SchemaRegistry(tmp_path)


@pytest.mark.parametrize("version", list(_FOLDERS))
def test_every_schema_compiles_and_checks_an_empty_payload(
    registry: SchemaRegistry, version: OcppVersion
) -> None:
    broken = []
    for action, is_request in _messages(version):
        violation = registry.check(version, action, is_request, {})
        # {} is valid or a schema violation; never "unknown action" or a broken schema
        if violation is not None and violation.kind in (
            ErrorKind.GENERIC,
            ErrorKind.NOT_IMPLEMENTED,
        ):
            broken.append((action, is_request, violation))
    assert broken == []


# -- valid payloads -----------------------------------------------------------------------------

VALID = [
    (V16, "Heartbeat", True, {}),
    (V16, "Heartbeat", False, {"currentTime": TS}),
    (V16, "BootNotification", True, {"chargePointVendor": "V", "chargePointModel": "M"}),
    (V16, "BootNotification", False, {"status": "Accepted", "currentTime": TS, "interval": 300}),
    (
        V16,
        "StatusNotification",
        True,
        {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
    ),
    (
        V16,
        "MeterValues",
        True,
        {
            "connectorId": 1,
            "meterValue": [{"timestamp": TS, "sampledValue": [{"value": "1.5", "unit": "kWh"}]}],
        },
    ),
    (
        V201,
        "BootNotification",
        True,
        {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
    ),
    (V201, "BootNotification", False, {"currentTime": TS, "interval": 60, "status": "Pending"}),
    (
        V201,
        "StatusNotification",
        True,
        {"timestamp": TS, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
    ),
    (V201, "Heartbeat", True, {"customData": {"vendorId": "X", "anything": [1, 2]}}),
    (
        V21,
        "BootNotification",
        True,
        {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
    ),
]


@pytest.mark.parametrize(("version", "action", "is_request", "payload"), VALID)
def test_valid_payloads_pass(
    registry: SchemaRegistry, version: OcppVersion, action: str, is_request: bool, payload: Any
) -> None:
    assert registry.check(version, action, is_request, payload) is None


# -- violations and their kinds -----------------------------------------------------------------

STATUS_16 = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}

INVALID = [
    # missing required -> OCCURRENCE
    (V16, "StatusNotification", True, {"connectorId": 1, "errorCode": "NoError"}, "OCCURRENCE"),
    (V201, "BootNotification", True, {"reason": "PowerUp"}, "OCCURRENCE"),
    (
        V201,
        "BootNotification",
        True,
        {"reason": "PowerUp", "chargingStation": {"model": "M"}},
        "OCCURRENCE",
    ),
    (V21, "Heartbeat", False, {}, "OCCURRENCE"),
    # wrong JSON type -> TYPE
    (V16, "StatusNotification", True, {**STATUS_16, "connectorId": "1"}, "TYPE"),
    (
        V16,
        "BootNotification",
        False,
        {"status": "Accepted", "currentTime": TS, "interval": "300"},
        "TYPE",
    ),
    (V201, "BootNotification", True, {**BOOT_201, "chargingStation": "M"}, "TYPE"),
    # wrong value: enum, length -> PROPERTY
    (V16, "StatusNotification", True, {**STATUS_16, "status": "Sleeping"}, "PROPERTY"),
    (V16, "StatusNotification", True, {**STATUS_16, "info": "i" * 51}, "PROPERTY"),
    (V201, "BootNotification", True, {**BOOT_201, "reason": "Bored"}, "PROPERTY"),
    (
        V201,
        "BootNotification",
        True,
        {**BOOT_201, "chargingStation": {"model": "m" * 21, "vendorName": "V"}},
        "PROPERTY",
    ),
    # extra property where additionalProperties is false -> FORMAT
    (V16, "Heartbeat", True, {"extra": 1}, "FORMAT"),
    (V16, "StatusNotification", True, {**STATUS_16, "extra": 1}, "FORMAT"),
    (V201, "Heartbeat", True, {"extra": 1}, "FORMAT"),
    (V21, "BootNotification", True, {**BOOT_201, "extra": True}, "FORMAT"),
]


@pytest.mark.parametrize(("version", "action", "is_request", "payload", "kind"), INVALID)
def test_violations_map_to_the_spec_error_kind(
    registry: SchemaRegistry,
    version: OcppVersion,
    action: str,
    is_request: bool,
    payload: Any,
    kind: str,
) -> None:
    violation = registry.check(version, action, is_request, payload)
    assert violation is not None
    assert violation.kind is ErrorKind[kind]
    assert 0 < len(violation.detail) <= 255


def test_violation_detail_names_the_offending_field(registry: SchemaRegistry) -> None:
    violation = registry.check(V16, "StatusNotification", True, {**STATUS_16, "connectorId": "1"})
    assert violation is not None and violation.detail.startswith("connectorId:")
    nested = registry.check(V201, "BootNotification", True, {**BOOT_201, "reason": "Bored"})
    assert nested is not None and nested.detail.startswith("reason:")


def test_violation_detail_is_capped_at_255_characters(registry: SchemaRegistry) -> None:
    violation = registry.check(V16, "StatusNotification", True, {**STATUS_16, "status": "s" * 400})
    assert violation is not None and violation.kind is ErrorKind.PROPERTY
    assert len(violation.detail) == 255


def test_a_payload_with_thousands_of_errors_is_explained_from_its_first_few(
    registry: SchemaRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    examined: list[int] = []
    best_match = schema_exceptions.best_match

    def counting_best_match(errors: Any) -> Any:
        listed = list(errors)
        examined.append(len(listed))
        return best_match(listed)

    monkeypatch.setattr(schema_exceptions, "best_match", counting_best_match)
    sampled = [{"value": "not a number"}] * 3000
    payload = {"evseId": 1, "meterValue": [{"timestamp": TS, "sampledValue": sampled}]}
    violation = registry.check(V201, "MeterValues", True, payload)
    assert violation is not None and violation.kind is ErrorKind.TYPE
    assert violation.detail.startswith("meterValue/0/sampledValue/")
    assert examined == [EXPLAINED_ERRORS]


@pytest.mark.parametrize(
    ("version", "action", "field"),
    [
        (V16, "Authorize", "idTag"),
        (V201, "Authorize", "idToken"),
        (V201, "MeterValues", "meterValue"),
    ],
)
def test_a_payload_nested_too_deeply_to_quote_is_still_a_violation(
    registry: SchemaRegistry, version: OcppVersion, action: str, field: str
) -> None:
    nested: list[Any] = []
    for _ in range(2000):  # json.loads reads ~900 levels; quoting them is what fails
        nested = [nested]
    violation = registry.check(version, action, True, {field: nested})
    assert violation is not None and violation.kind is ErrorKind.FORMAT


@pytest.mark.parametrize("version", [V16, V201, V21])
@pytest.mark.parametrize("is_request", [True, False])
def test_unknown_action_is_not_implemented(
    registry: SchemaRegistry, version: OcppVersion, is_request: bool
) -> None:
    violation = registry.check(version, "MakeCoffee", is_request, {})
    assert violation is not None
    assert violation.kind is ErrorKind.NOT_IMPLEMENTED
    assert "MakeCoffee" in violation.detail


def test_action_names_are_case_sensitive(registry: SchemaRegistry) -> None:
    violation = registry.check(V201, "heartbeat", True, {})
    assert violation is not None and violation.kind is ErrorKind.NOT_IMPLEMENTED


# -- requests and responses are separate --------------------------------------------------------


def test_request_and_response_schemas_are_separate(registry: SchemaRegistry) -> None:
    request = {"chargePointVendor": "V", "chargePointModel": "M"}
    response = {"status": "Accepted", "currentTime": TS, "interval": 300}
    assert registry.check(V16, "BootNotification", True, request) is None
    assert registry.check(V16, "BootNotification", False, response) is None
    as_response = registry.check(V16, "BootNotification", False, request)
    as_request = registry.check(V16, "BootNotification", True, response)
    assert as_response is not None and as_request is not None


def test_empty_heartbeat_is_a_valid_request_but_an_invalid_response(
    registry: SchemaRegistry,
) -> None:
    for version in (V16, V201, V21):
        assert registry.check(version, "Heartbeat", True, {}) is None
        response = registry.check(version, "Heartbeat", False, {})
        assert response is not None and response.kind is ErrorKind.OCCURRENCE


def test_send_only_message_has_no_response_schema(registry: SchemaRegistry) -> None:
    violation = registry.check(V21, "NotifyPeriodicEventStream", False, {})
    assert violation is not None and violation.kind is ErrorKind.NOT_IMPLEMENTED


def test_default_registry_is_built_once() -> None:
    assert default_registry() is default_registry()
