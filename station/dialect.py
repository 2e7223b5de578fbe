"""How the LC's own messages are worded in each OCPP version it can speak to its CSMS.

The session's workflow (boot, pending, heartbeat, clock check, triggers) is the same in 1.6 and
2.0.1; what differs is data: the BootNotification's fields, which calls trigger a message (1.6
also the security whitepaper's ExtendedTriggerMessage) and by which names, which messages they
may ask for and what those carry, how a trigger names a part of the station (2.0.1 `evse`, 1.6
`connectorId`), what the LC reports once its boot is Accepted, the security events' names,
whether an answer may say why (`statusInfo`, which 1.6 does not have), how the LC's own
meter values are worded and which messages carry a signed update of the LC itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ocpp_knowledge.ocpp_time import to_ocpp_time
from ocpp_knowledge.security_events import V16_NAMES
from router.frames import OcppVersion
from station.meter_values import MeterValuesWording, meter_values_16, meter_values_201

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StationIdentity:
    """What the LC says about itself in its BootNotification."""

    vendor: str
    model: str
    serial: str | None
    firmware: str


@dataclass(frozen=True, slots=True)
class Dialect:
    version: OcppVersion
    boot_payload: Callable[[StationIdentity, str], Payload]  # (identity, boot reason)
    # What TriggerMessage may ask for besides BootNotification, and what it then carries.
    triggerable: Mapping[str, Callable[[], Payload]]
    not_triggerable: frozenset[str]  # known messages the LC has nothing to send for
    names_a_part: Callable[[Payload], bool]  # the trigger asks about an EVSE or connector
    # F06.FR.17 (2.0.1): a triggered BootNotification is refused once the boot is Accepted.
    boot_trigger_after_accepted: bool
    # The LC's own calls once its boot is Accepted (1.6: the state of connector 0).
    after_accepted: tuple[tuple[str, Callable[[], Payload]], ...]
    # The CSMS's calls that trigger a message: action -> the requestedMessage values the LC
    # knows by another name (the one its parts register with `allow_trigger`).
    trigger_calls: Mapping[str, Mapping[str, str]]
    # The security event types this version names otherwise (the LC's log keeps 2.0.1's).
    security_event_names: Mapping[str, str]
    # Whether an answer may carry statusInfo (2.0.1); a 1.6 answer has only its status.
    status_info: bool
    # The LC's own MeterValues: on EVSE 0 (2.0.1), on connector 0 (1.6).
    meter_values: MeterValuesWording
    # A signed update of the LC itself (2.0.1 L01, the 1.6 whitepaper's L01): the CSMS's call
    # and its status notifications.
    signed_update: str
    signed_update_status: str

    def security_event_type(self, event_type: str) -> str:
        return self.security_event_names.get(event_type, event_type)

    @property
    def subprotocol(self) -> str:
        return self.version.value


def _boot_201(identity: StationIdentity, reason: str) -> Payload:
    station: Payload = {
        "model": identity.model,
        "vendorName": identity.vendor,
        "firmwareVersion": identity.firmware,
    }
    if identity.serial:
        station["serialNumber"] = identity.serial
    return {"chargingStation": station, "reason": reason}


def _boot_16(identity: StationIdentity, _reason: str) -> Payload:
    # 1.6 has no boot reason: the CSMS only learns that the LC (re)booted.
    boot: Payload = {
        "chargePointVendor": identity.vendor,
        "chargePointModel": identity.model,
        "firmwareVersion": identity.firmware,
    }
    if identity.serial:
        boot["chargePointSerialNumber"] = identity.serial
    return boot


def _station_status_16() -> Payload:
    """Connector 0, the LC as a whole: it relays and balances, so it is Available."""
    return {
        "connectorId": 0,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": to_ocpp_time(datetime.now(UTC)),
    }


def _nothing() -> Payload:
    return {}


def _idle() -> Payload:
    return {"status": "Idle"}


def _names_a_connector(payload: Payload) -> bool:
    return bool(payload.get("connectorId", 0) != 0)


V201 = Dialect(
    version=OcppVersion.V201,
    boot_payload=_boot_201,
    # No log upload in progress: Idle.
    triggerable={"Heartbeat": _nothing, "LogStatusNotification": _idle},
    # No EVSE of its own to report a status or meter values for.
    not_triggerable=frozenset({"StatusNotification", "MeterValues"}),
    names_a_part=lambda payload: "evse" in payload,
    boot_trigger_after_accepted=False,
    after_accepted=(),
    trigger_calls={"TriggerMessage": {}},
    security_event_names={},
    status_info=True,
    meter_values=meter_values_201,
    signed_update="UpdateFirmware",
    signed_update_status="FirmwareStatusNotification",
)

V16 = Dialect(
    version=OcppVersion.V16,
    boot_payload=_boot_16,
    # No diagnostics upload or firmware update of its own in progress: Idle.
    triggerable={
        "Heartbeat": _nothing,
        "StatusNotification": _station_status_16,
        "DiagnosticsStatusNotification": _idle,
        "FirmwareStatusNotification": _idle,
        "SignedFirmwareStatusNotification": _idle,
    },
    not_triggerable=frozenset({"MeterValues"}),
    names_a_part=_names_a_connector,
    boot_trigger_after_accepted=True,
    after_accepted=(("StatusNotification", _station_status_16),),
    # The security whitepaper's trigger: its FirmwareStatusNotification is the signed update's.
    trigger_calls={
        "TriggerMessage": {},
        "ExtendedTriggerMessage": {
            "SignChargePointCertificate": "SignChargingStationCertificate",
            "FirmwareStatusNotification": "SignedFirmwareStatusNotification",
        },
    },
    security_event_names=V16_NAMES,
    status_info=False,
    meter_values=meter_values_16,
    # 1.6's own UpdateFirmware and FirmwareStatusNotification carry no signature or request id.
    signed_update="SignedUpdateFirmware",
    signed_update_status="SignedFirmwareStatusNotification",
)

DIALECTS = {dialect.version: dialect for dialect in (V201, V16)}
