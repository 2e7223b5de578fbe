"""Whether the LC takes an UpdateFirmware of itself (2.0.1 L01, SignedUpdateFirmware), pure.

The LC installs only what the manufacturer signed: without a signing certificate and a
signature the request is Rejected; a signing certificate that does not chain to an installed
ManufacturerRootCertificate is InvalidCertificate with an InvalidFirmwareSigningCertificate
security event (L01.FR.02). One update at a time: another one while it runs is Rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.x509 import Certificate

from firmware.signature import InvalidSigningCertificate, signing_certificate
from ocpp_knowledge.ocpp_time import from_ocpp_time

# When UpdateFirmware leaves them out: attempts after the first, and the wait between them.
DEFAULT_RETRIES = 2
DEFAULT_RETRY_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    request_id: int
    location: str
    signature: str  # base64, over the whole release file
    certificate: Certificate  # the signing certificate, checked up to a manufacturer root
    retrieve_at: datetime
    install_at: datetime | None
    retries: int
    retry_interval_s: float


@dataclass(frozen=True, slots=True)
class Decision:
    status: str  # UpdateFirmwareStatusEnumType
    plan: UpdatePlan | None  # when Accepted
    security_event: tuple[str, str] | None  # (type, techInfo)


def decide(
    request: dict[str, Any], roots: Sequence[Certificate], now: datetime, busy: bool
) -> Decision:
    """On a schema-valid UpdateFirmwareRequest payload."""
    firmware = request["firmware"]
    pem, signature = firmware.get("signingCertificate"), firmware.get("signature")
    if busy or not pem or not signature:
        return Decision("Rejected", None, None)
    try:
        certificate = signing_certificate(pem, roots, now)
    except InvalidSigningCertificate as exc:
        return Decision("InvalidCertificate", None, ("InvalidFirmwareSigningCertificate", str(exc)))
    install = firmware.get("installDateTime")
    plan = UpdatePlan(
        request_id=request["requestId"],
        location=firmware["location"],
        signature=signature,
        certificate=certificate,
        retrieve_at=from_ocpp_time(firmware["retrieveDateTime"]),
        install_at=None if install is None else from_ocpp_time(install),
        retries=request.get("retries", DEFAULT_RETRIES),
        retry_interval_s=float(request.get("retryInterval", DEFAULT_RETRY_INTERVAL_S)),
    )
    return Decision("Accepted", plan, None)
