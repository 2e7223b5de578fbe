"""What the LC answers a charger itself while its CSMS is unreachable (the `hold` policy).

Pure: a request and the offline knowledge (authorizations the CSMS gave, the local list, the
last boot interval) in, a schema-valid answer out. Errata 2025-02 to Part 4 §6.3 allows keeping
the charger connected only if the LC answers like a CSMS would, so every answer here is what a
CSMS accepting the charger's data would say; DataTransfer is Rejected (no vendor logic here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocpp_knowledge.ocpp_time import to_ocpp_time
from router.frames import OcppVersion
from router.schemas import SchemaRegistry

# Requests that must reach the CSMS eventually, journaled and replayed in order: transaction
# messages (1.6 §3.7, 2.0.1 E11-E13), security events (A04.FR.02), and every report that still
# means something after the outage: a reboot, firmware and log upload progress, events and
# reports the CSMS asked for, limits and reservations that changed, settlements. Not kept:
# Heartbeat, StatusNotification (the latest per connector is replayed instead), and requests
# whose answer the charger needed at that moment (Authorize, DataTransfer, certificates,
# EV charging needs, ...): it acted on the LC's answer, and a late answer goes nowhere.
_REPORTS_16 = frozenset(
    {
        "BootNotification",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
        "LogStatusNotification",
        "SignedFirmwareStatusNotification",
        "SecurityEventNotification",
    }
)
_REPORTS_2X = frozenset(
    {
        "BootNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "SecurityEventNotification",
        "NotifyEvent",
        "NotifyReport",
        "NotifyMonitoringReport",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "ReportChargingProfiles",
        "NotifyChargingLimit",
        "ClearedChargingLimit",
        "ReservationStatusUpdate",
        # 2.1
        "BatterySwap",
        "NotifySettlement",
        "NotifyPriorityCharging",
        "NotifyDERAlarm",
        "NotifyDERStartStop",
        "ReportDERControl",
    }
)
JOURNALED_16 = _REPORTS_16 | {"StartTransaction", "StopTransaction"}
JOURNALED_2X = _REPORTS_2X | {"TransactionEvent"}


@dataclass(frozen=True, slots=True)
class BootAnswer:
    """The CSMS's last answer to a charger's BootNotification, repeated while it is away:
    Pending and Rejected too, with their interval (when to boot again)."""

    status: str = "Accepted"
    interval_s: int = 300


@dataclass(frozen=True, slots=True)
class OfflineAuthorization:
    """How the LC decides on an id token the CSMS cannot be asked about."""

    # token -> (the CSMS's last idTagInfo / idTokenInfo, its expiry as a Unix time or None)
    cache: dict[str, tuple[dict[str, Any], float | None]]
    local_list: frozenset[str]
    accept_unknown: bool

    def info(self, id_token: str, now: datetime) -> dict[str, Any]:
        cached = self.cache.get(id_token)
        if cached is not None:
            info, expires_at = cached
            if expires_at is None or expires_at > now.timestamp():
                return info
        if id_token in self.local_list or self.accept_unknown:
            return {"status": "Accepted"}
        return {"status": "Invalid"}


def is_journaled(version: OcppVersion, action: str, payload: dict[str, Any]) -> bool:
    if version is OcppVersion.V16:
        if action == "MeterValues":
            return "transactionId" in payload  # only a transaction's meter values must arrive
        return action in JOURNALED_16
    return action in JOURNALED_2X


_PERIODIC_TRIGGERS = frozenset({"MeterValuePeriodic", "MeterValueClock"})


def periodic_meter_values_of(
    version: OcppVersion, action: str, payload: dict[str, Any]
) -> str | None:
    """The transaction id of a journaled periodic meter value (what the journal's bounds may
    drop first, router/journal_bounds.py), or None for any other request."""
    if version is OcppVersion.V16:
        if action == "MeterValues" and "transactionId" in payload:
            return str(payload["transactionId"])
        return None
    if (
        action == "TransactionEvent"
        and payload.get("eventType") == "Updated"
        and payload.get("triggerReason") in _PERIODIC_TRIGGERS
    ):
        info = payload.get("transactionInfo")
        if isinstance(info, dict) and "transactionId" in info:
            return str(info["transactionId"])
    return None


def _id_token(version: OcppVersion, payload: dict[str, Any]) -> str | None:
    if version is OcppVersion.V16:
        tag = payload.get("idTag")
        return tag if isinstance(tag, str) else None
    token = payload.get("idToken")
    return token.get("idToken") if isinstance(token, dict) else None


def local_answer(
    version: OcppVersion,
    action: str,
    payload: dict[str, Any],
    now: datetime,
    boot: BootAnswer,
    authorization: OfflineAuthorization,
    provisional_transaction_id: Callable[[], int],
    schemas: SchemaRegistry,
) -> dict[str, Any] | None:
    """The answer payload, or None when no CSMS-like answer is possible offline."""
    info_key = "idTagInfo" if version is OcppVersion.V16 else "idTokenInfo"
    token = _id_token(version, payload)
    if action == "BootNotification":
        return {
            "status": boot.status,
            "currentTime": to_ocpp_time(now),
            "interval": boot.interval_s,
        }
    if action == "Heartbeat":
        return {"currentTime": to_ocpp_time(now)}
    if action == "DataTransfer":
        return {"status": "Rejected"}
    if action == "Authorize":
        return {info_key: authorization.info(token or "", now)}
    if action == "StartTransaction":
        return {
            "transactionId": provisional_transaction_id(),
            info_key: authorization.info(token or "", now),
        }
    if action in ("StopTransaction", "TransactionEvent") and token is not None:
        return {info_key: authorization.info(token, now)}
    # Everything else a charger reports (StatusNotification, MeterValues, NotifyEvent, firmware
    # and security notifications, ...) is acknowledged with an empty answer where the
    # response schema allows one.
    if schemas.check(version, action, False, {}) is None:
        return {}
    return None
