"""Turn relayed OCPP payloads into observation events (pure functions, never raise).

Only charger-originated requests and the answers to them, and the charger's answers to
CSMS charging-profile calls, are observed. The session hands over only schema-valid payloads
(an invalid one may be relayed, but it is never observed); lookups still tolerate optional
fields that are absent: a payload without what an event needs yields no event.

Schema-valid is not sane: the schemas bound no number, and Python's `json` reads integers of
thousands of digits, `NaN` and `Infinity`. Every number taken from a payload is therefore
made a finite float here or dropped (`_number`, `_scaled`), so no arithmetic on it can raise
and no event carries a value the balancer cannot compute with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from router import events as ev
from router.frames import OcppVersion

_PHASES = ("L1", "L2", "L3")
_SCALE = {"Wh": 1.0, "kWh": 1000.0, "W": 1.0, "kW": 1000.0, "A": 1.0}


def _number(value: Any) -> float | None:
    """A finite float, or None: 1.6 sends numbers as strings ("1e999", "nan" parse too)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # not a number; an integer beyond a float's range
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _priority(response: dict[str, Any]) -> int | None:
    """A 2.0.1 answer's chargingPriority: the response's own overrules its IdTokenInfo's (the
    schema bounds neither, the spec says -9..9)."""
    priority = _int(response.get("chargingPriority"))
    if priority is None:
        priority = _int(_dict(response.get("idTokenInfo")).get("chargingPriority"))
    return None if priority is None else max(-9, min(9, priority))


def _scaled(value: float, power_of_ten: int, factor: float) -> float | None:
    """value × 10^power_of_ten × factor, or None when that is not a finite float."""
    try:
        scaled = value * 10.0**power_of_ten * factor
    except OverflowError:  # 10.0 ** 309 and beyond, or an exponent beyond a float's range
        return None
    return scaled if math.isfinite(scaled) else None


def _sample_unit(sample: dict[str, Any]) -> tuple[Any, int]:
    """(unit, power of ten): 1.6 has `unit`, 2.0.1 `unitOfMeasure` with a `multiplier`."""
    if "unitOfMeasure" in sample:
        unit_of_measure = _dict(sample["unitOfMeasure"])
        return unit_of_measure.get("unit"), _int(unit_of_measure.get("multiplier")) or 0
    return sample.get("unit"), 0


def _meter_sample(
    identity: str, evse_id: int | None, transaction_id: str | None, sampled: list[dict[str, Any]]
) -> ev.MeterSampled | None:
    currents: list[float | None] = [None, None, None]
    power = energy = None
    for sample in sampled:
        if not isinstance(sample, dict):
            continue
        unit, power_of_ten = _sample_unit(sample)
        raw = _number(sample.get("value"))
        scale = _SCALE.get(unit, 1.0) if isinstance(unit, str) else 1.0
        value = None if raw is None else _scaled(raw, power_of_ten, scale)
        if value is None:
            continue
        measurand = sample.get("measurand", "Energy.Active.Import.Register")
        phase = sample.get("phase")
        if measurand == "Current.Import" and phase in _PHASES:
            currents[_PHASES.index(phase)] = value
        elif measurand == "Power.Active.Import" and phase is None:
            power = value
        elif measurand == "Energy.Active.Import.Register" and phase is None:
            energy = value
    if power is None and energy is None and currents == [None, None, None]:
        return None
    return ev.MeterSampled(
        identity, evse_id, transaction_id, (currents[0], currents[1], currents[2]), power, energy
    )


def _meter_events(
    identity: str, evse_id: int | None, transaction_id: str | None, meter_values: Any
) -> list[ev.Event]:
    found: list[ev.Event] = []
    for meter_value in meter_values if isinstance(meter_values, list) else ():
        sampled = meter_value.get("sampledValue") if isinstance(meter_value, dict) else None
        if isinstance(sampled, list):
            sample = _meter_sample(identity, evse_id, transaction_id, sampled)
            if sample is not None:
                found.append(sample)
    return found


# -- charger-originated requests: what the request alone tells ---------------------------------


def _status_notification(identity: str, version: OcppVersion, p: dict[str, Any]) -> list[ev.Event]:
    if version is OcppVersion.V16:
        connector = _int(p.get("connectorId"))
        if connector is None or "status" not in p:
            return []
        return [ev.StatusChanged(identity, connector, connector, str(p["status"]))]
    evse = _int(p.get("evseId"))
    if evse is None or "connectorStatus" not in p:
        return []
    return [ev.StatusChanged(identity, evse, _int(p.get("connectorId")), str(p["connectorStatus"]))]


def _meter_values(identity: str, version: OcppVersion, p: dict[str, Any]) -> list[ev.Event]:
    evse = _int(p.get("connectorId" if version is OcppVersion.V16 else "evseId"))
    if evse is None:
        return []
    transaction = p.get("transactionId")
    transaction_id = None if transaction is None else str(transaction)
    return _meter_events(identity, evse, transaction_id, p.get("meterValue"))


def _stop_transaction(identity: str, version: OcppVersion, p: dict[str, Any]) -> list[ev.Event]:
    if "transactionId" not in p:
        return []
    transaction_id = str(p["transactionId"])
    ended = ev.TransactionEnded(
        identity, transaction_id, None, _number(p.get("meterStop")), p.get("reason")
    )
    return [ended]


def _transaction_event(identity: str, version: OcppVersion, p: dict[str, Any]) -> list[ev.Event]:
    info = p.get("transactionInfo")
    if not isinstance(info, dict) or "transactionId" not in info:
        return []
    transaction_id = str(info["transactionId"])
    evse_id = _int(_dict(p.get("evse")).get("id"))
    kind = p.get("eventType")
    state = info.get("chargingState")
    found: list[ev.Event] = []
    if kind == "Started":
        id_token = _dict(p.get("idToken")).get("idToken")
        found.append(ev.TransactionStarted(identity, transaction_id, evse_id, id_token, None))
    if kind == "Updated" or (kind == "Started" and state is not None):
        found.append(ev.TransactionUpdated(identity, transaction_id, evse_id, state))
    # The EVSE may be absent after the first event (E01.FR.16): the transaction id says which.
    found += _meter_events(identity, evse_id, transaction_id, p.get("meterValue"))
    if kind == "Ended":
        reason = info.get("stoppedReason")
        found.append(ev.TransactionEnded(identity, transaction_id, evse_id, None, reason))
    return found


def _heartbeat(identity: str, version: OcppVersion, p: dict[str, Any]) -> list[ev.Event]:
    return [ev.ChargerHeartbeat(identity)]


RequestObserver = Callable[[str, OcppVersion, dict[str, Any]], list[ev.Event]]


def _transfer_status(kind: str) -> RequestObserver:
    """FirmwareStatusNotification ("firmware"), Diagnostics/LogStatusNotification ("log")."""

    def observe(identity: str, version: OcppVersion, p: dict[str, Any]) -> list[ev.Event]:
        if not isinstance(p.get("status"), str):
            return []
        return [ev.TransferStatusReported(identity, kind, p["status"], _int(p.get("requestId")))]

    return observe


_REQUEST_OBSERVERS: dict[str, RequestObserver] = {
    "Heartbeat": _heartbeat,
    "StatusNotification": _status_notification,
    "MeterValues": _meter_values,
    "StopTransaction": _stop_transaction,
    "TransactionEvent": _transaction_event,
    "FirmwareStatusNotification": _transfer_status("firmware"),
    "DiagnosticsStatusNotification": _transfer_status("log"),
    "LogStatusNotification": _transfer_status("log"),
}


def observe_charger_request(
    identity: str, version: OcppVersion, action: str, payload: dict[str, Any]
) -> list[ev.Event]:
    observer = _REQUEST_OBSERVERS.get(action)
    return [] if observer is None else observer(identity, version, payload)


# -- answers: what a request and its answer tell together -------------------------------------


def _boot(
    identity: str, version: OcppVersion, request: dict[str, Any], response: dict[str, Any]
) -> list[ev.Event]:
    if version is OcppVersion.V16:
        vendor, model = request.get("chargePointVendor"), request.get("chargePointModel")
        firmware = request.get("firmwareVersion")
    else:
        station = _dict(request.get("chargingStation"))
        vendor, model = station.get("vendorName"), station.get("model")
        firmware = station.get("firmwareVersion")
    interval = _int(response.get("interval"))
    if vendor is None or model is None or interval is None:
        return []
    status = str(response.get("status"))
    return [ev.BootNotified(identity, vendor, model, firmware, status, interval)]


def _start_transaction(
    identity: str, version: OcppVersion, request: dict[str, Any], response: dict[str, Any]
) -> list[ev.Event]:
    transaction = _int(response.get("transactionId"))
    if transaction is None:
        return []
    started = ev.TransactionStarted(
        identity,
        str(transaction),
        _int(request.get("connectorId")),
        request.get("idTag"),
        _number(request.get("meterStart")),
    )
    return [started]


def _authorize(
    identity: str, version: OcppVersion, request: dict[str, Any], response: dict[str, Any]
) -> list[ev.Event]:
    id_token = _dict(request.get("idToken")).get("idToken")
    priority = _priority({"idTokenInfo": response.get("idTokenInfo")})
    if version is OcppVersion.V16 or not isinstance(id_token, str) or priority is None:
        return []  # 1.6's IdTagInfo has no priority
    return [ev.IdTokenPrioritised(identity, id_token, priority)]


def _transaction_priority(
    identity: str, version: OcppVersion, request: dict[str, Any], response: dict[str, Any]
) -> list[ev.Event]:
    transaction_id = _dict(request.get("transactionInfo")).get("transactionId")
    priority = _priority(response)
    if transaction_id is None or priority is None or request.get("eventType") == "Ended":
        return []
    evse_id = _int(_dict(request.get("evse")).get("id"))
    return [ev.TransactionPrioritised(identity, str(transaction_id), evse_id, priority)]


def _set_charging_profile(
    identity: str, version: OcppVersion, request: dict[str, Any], response: dict[str, Any]
) -> list[ev.Event]:
    if version is OcppVersion.V16:
        evse, profile = _int(request.get("connectorId")), request.get("csChargingProfiles")
    else:
        evse, profile = _int(request.get("evseId")), request.get("chargingProfile")
    if evse is None or not isinstance(profile, dict):
        return []
    accepted = response.get("status") == "Accepted"
    return [ev.ChargingProfileSet(identity, evse, profile, accepted)]


def _clear_charging_profile(
    identity: str, version: OcppVersion, request: dict[str, Any], response: dict[str, Any]
) -> list[ev.Event]:
    accepted = response.get("status") == "Accepted"
    return [ev.ChargingProfileCleared(identity, dict(request), accepted)]


def _update_firmware(
    identity: str, version: OcppVersion, request: dict[str, Any], response: dict[str, Any]
) -> list[ev.Event]:
    location: Any
    answer: Any
    if version is OcppVersion.V16:  # the answer is empty: answering is accepting
        location, answer = request.get("location"), "Accepted"
    else:
        location, answer = _dict(request.get("firmware")).get("location"), response.get("status")
    return [_transfer_requested(identity, "firmware", location, request, answer)]


def _log_request(
    identity: str, version: OcppVersion, request: dict[str, Any], response: dict[str, Any]
) -> list[ev.Event]:
    location: Any
    answer: Any
    if version is OcppVersion.V16:  # GetDiagnostics: no fileName means nothing to upload
        location = request.get("location")
        answer = "Accepted" if response.get("fileName") else "NothingToUpload"
    else:
        location, answer = _dict(request.get("log")).get("remoteLocation"), response.get("status")
    return [_transfer_requested(identity, "log", location, request, answer)]


def _transfer_requested(
    identity: str, kind: str, location: Any, request: dict[str, Any], answer: Any
) -> ev.TransferRequested:
    return ev.TransferRequested(
        identity,
        kind,
        location if isinstance(location, str) else None,
        _int(request.get("requestId")),
        answer if isinstance(answer, str) else "Accepted",
    )


ResultObserver = Callable[[str, OcppVersion, dict[str, Any], dict[str, Any]], list[ev.Event]]
# Charger-originated requests whose meaning needs the CSMS's answer.
_CHARGER_CALL_RESULTS: dict[str, ResultObserver] = {
    "BootNotification": _boot,
    "StartTransaction": _start_transaction,
    "Authorize": _authorize,
    "TransactionEvent": _transaction_priority,
}
# CSMS-originated requests whose meaning needs the charger's answer.
_CSMS_CALL_RESULTS: dict[str, ResultObserver] = {
    "SetChargingProfile": _set_charging_profile,
    "ClearChargingProfile": _clear_charging_profile,
    "UpdateFirmware": _update_firmware,
    "GetDiagnostics": _log_request,
    "GetLog": _log_request,
}


def observe_result(
    identity: str,
    version: OcppVersion,
    action: str,
    charger_originated: bool,
    request: dict[str, Any],
    response: dict[str, Any],
) -> list[ev.Event]:
    table = _CHARGER_CALL_RESULTS if charger_originated else _CSMS_CALL_RESULTS
    observer = table.get(action)
    return [] if observer is None else observer(identity, version, request, response)


def needs_result(action: str, charger_originated: bool) -> bool:
    """Whether the request must be kept until its answer arrives, for observation."""
    return action in (_CHARGER_CALL_RESULTS if charger_originated else _CSMS_CALL_RESULTS)
