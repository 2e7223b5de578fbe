"""What the router observes in the traffic it relays, for the rest of the product.

Events are plain values; protocol differences (1.6 connectors vs 2.0.1 EVSEs, integer vs
string transaction ids, string vs number meter values) are already folded away. In 1.6 the
`evse_id` is the connectorId (0 = the whole charger).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.frames import OcppVersion

ChargerPhaseReadings = tuple[float | None, float | None, float | None]
"""One reading per charger phase 1..3; None where the charger reported nothing."""


@dataclass(frozen=True, slots=True)
class ChargerConnected:
    identity: str
    version: OcppVersion


@dataclass(frozen=True, slots=True)
class ChargerDisconnected:
    identity: str
    reason: str


@dataclass(frozen=True, slots=True)
class CsmsLinkChanged:
    """Under `hold`, the charger's CSMS link went down (the LC answers the charger itself) or
    came back. A charger connects with its CSMS link up unless this says otherwise."""

    identity: str
    connected: bool


@dataclass(frozen=True, slots=True)
class BootNotified:
    identity: str
    vendor: str
    model: str
    firmware_version: str | None
    status: str  # the CSMS's answer: Accepted, Pending, Rejected
    interval_s: int


@dataclass(frozen=True, slots=True)
class ChargerHeartbeat:
    """The charger sent a Heartbeat: it is up and talking to its CSMS."""

    identity: str


@dataclass(frozen=True, slots=True)
class StatusChanged:
    identity: str
    evse_id: int
    connector_id: int | None
    status: str


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    identity: str
    transaction_id: str
    evse_id: int | None
    id_token: str | None
    meter_start_wh: float | None


@dataclass(frozen=True, slots=True)
class TransactionPrioritised:
    """The CSMS gave a transaction a chargingPriority (2.0.1 TransactionEventResponse, or the
    IdTokenInfo in it): for that transaction only (K03.FR.05/06)."""

    identity: str
    transaction_id: str
    evse_id: int | None
    priority: int  # -9..9


@dataclass(frozen=True, slots=True)
class IdTokenPrioritised:
    """The CSMS's Authorize answer gave an id token a chargingPriority: for the transaction the
    charger starts with that token next."""

    identity: str
    id_token: str
    priority: int  # -9..9


@dataclass(frozen=True, slots=True)
class TransactionUpdated:
    identity: str
    transaction_id: str
    evse_id: int | None
    charging_state: str | None


@dataclass(frozen=True, slots=True)
class TransactionEnded:
    identity: str
    transaction_id: str
    evse_id: int | None
    meter_stop_wh: float | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class TransactionIdMapped:
    """1.6 under `hold`: the CSMS gave its id to a session the charger started while the CSMS
    was away; the charger keeps the provisional id, the CSMS's calls name its own."""

    identity: str
    provisional_transaction_id: str
    csms_transaction_id: str


@dataclass(frozen=True, slots=True)
class EnergySuspended:
    """The LC stopped the energy delivery of a session whose id the CSMS refused after an
    outage; the charger keeps the transaction (its StopTransactionOnInvalidId is false)."""

    identity: str
    evse_id: int


@dataclass(frozen=True, slots=True)
class MeterSampled:
    """One meter value sample set; quantities the charger did not report are None."""

    identity: str
    evse_id: int | None  # 2.0.1 names the EVSE only in a transaction's first event
    transaction_id: str | None
    current_a: ChargerPhaseReadings
    power_w: float | None
    energy_wh: float | None


@dataclass(frozen=True, slots=True)
class ChargingProfileSet:
    """The CSMS set a charging profile on a charger and the charger answered."""

    identity: str
    evse_id: int
    profile: dict[str, Any]
    accepted: bool


@dataclass(frozen=True, slots=True)
class ChargingProfileCleared:
    identity: str
    criteria: dict[str, Any]
    accepted: bool


@dataclass(frozen=True, slots=True)
class TransferRequested:
    """The CSMS asked a charger to download firmware (`kind` "firmware") or to upload its
    diagnostics or log (`kind` "log"), and the charger answered. 1.6 UpdateFirmware has no
    status in its answer: the charger answering at all is acceptance."""

    identity: str
    kind: str  # "firmware" or "log"
    location: str | None  # where the file comes from (firmware) or goes to (log)
    request_id: int | None  # 2.0.1 requestId; 1.6 has none
    answer: str  # Accepted, Rejected, AcceptedCanceled, InvalidCertificate, ...


@dataclass(frozen=True, slots=True)
class TransferStatusReported:
    """A charger's FirmwareStatusNotification (`kind` "firmware") or Diagnostics/Log-
    StatusNotification (`kind` "log")."""

    identity: str
    kind: str
    status: str
    request_id: int | None


@dataclass(frozen=True, slots=True)
class SecurityEventRaised:
    """Something the LC's security log keeps (A04): `type` from the appendix's list, or the
    LC's own. `identity` is the charger it concerns, "" when none (a TLS handshake that failed
    before a charger said who it is, the CSMS's certificate)."""

    identity: str
    type: str
    tech_info: str


@dataclass(frozen=True, slots=True)
class NetworkProfileIntercepted:
    """The CSMS sent a charger SetNetworkProfile: it could point the charger away from the LC,
    out of load control. `rejected`: the LC answered Rejected instead of relaying it."""

    identity: str
    configuration_slot: int | None  # None: the call did not say (schema-invalid)
    rejected: bool


Event = (
    ChargerConnected
    | ChargerDisconnected
    | CsmsLinkChanged
    | BootNotified
    | ChargerHeartbeat
    | StatusChanged
    | TransactionStarted
    | TransactionUpdated
    | TransactionPrioritised
    | IdTokenPrioritised
    | TransactionEnded
    | TransactionIdMapped
    | EnergySuspended
    | MeterSampled
    | ChargingProfileSet
    | ChargingProfileCleared
    | TransferRequested
    | TransferStatusReported
    | SecurityEventRaised
    | NetworkProfileIntercepted
)
