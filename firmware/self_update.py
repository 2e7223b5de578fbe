"""Whether the LC takes an UpdateFirmware of itself, and its steps, pure.

2.0.1 UpdateFirmware and the 1.6 security whitepaper's SignedUpdateFirmware (L01): the LC
installs only what the manufacturer signed: without a signing certificate and a signature the
request is Rejected; a signing certificate that does not chain to an installed
ManufacturerRootCertificate is InvalidCertificate with an InvalidFirmwareSigningCertificate
security event (L01.FR.02). (1.6's own UpdateFirmware carries no signature: the whitepaper
has it answered NotSupported, L01.FR.20, so it never gets here.)
One update at a time: another one while it runs is Rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
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
    key: PublicKeyTypes  # the signing certificate's (checked up to a manufacturer root)
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
        key=certificate.public_key(),
        retrieve_at=from_ocpp_time(firmware["retrieveDateTime"]),
        install_at=None if install is None else from_ocpp_time(install),
        retries=request.get("retries", DEFAULT_RETRIES),
        retry_interval_s=float(request.get("retryInterval", DEFAULT_RETRY_INTERVAL_S)),
    )
    return Decision("Accepted", plan, None)


Notice = dict[str, Any]  # a FirmwareStatusNotificationRequest payload
# Statuses after which this process is done with the update (InstallRebooting: the next one
# reports Installed, or the release it falls back to InstallationFailed).
FINAL = frozenset(
    {"DownloadFailed", "InvalidSignature", "InstallVerificationFailed", "InstallRebooting"}
)


class SelfUpdate:
    """One accepted UpdateFirmware of the LC itself as a state machine (sans-I/O): what
    happened in, the FirmwareStatusNotification payloads out in the order L01 lists them, and
    how long to wait before the next step. The asyncio side downloads, checks, unpacks, waits."""

    def __init__(self, plan: UpdatePlan) -> None:
        self.plan = plan
        self.status = "Idle"  # the last status sent
        self.failed_attempts = 0

    def begin(self, now: datetime) -> tuple[list[Notice], float]:
        """(what to send, seconds to wait before downloading: retrieveDateTime)."""
        wait = (self.plan.retrieve_at - now).total_seconds()
        return (self._enter("DownloadScheduled"), wait) if wait > 0 else ([], 0.0)

    def downloading(self) -> list[Notice]:
        return [] if self.status == "Downloading" else self._enter("Downloading")

    def attempt_failed(self) -> tuple[list[Notice], float | None]:
        """(what to send, seconds before the next attempt or None: no more)."""
        self.failed_attempts += 1
        if self.failed_attempts <= self.plan.retries:
            return [], self.plan.retry_interval_s
        return self._enter("DownloadFailed"), None

    def refused(self) -> list[Notice]:
        """The file is beyond what a release may be: no attempt would do better."""
        return self._enter("DownloadFailed")

    def downloaded(self, signature_valid: bool, now: datetime) -> tuple[list[Notice], float]:
        """(what to send, seconds to wait before installing: installDateTime)."""
        notices = self._enter("Downloaded")
        if not signature_valid:
            return notices + self._enter("InvalidSignature"), 0.0
        notices += self._enter("SignatureVerified")
        install_at = self.plan.install_at
        wait = 0.0 if install_at is None else (install_at - now).total_seconds()
        if wait > 0:
            return notices + self._enter("InstallScheduled"), wait
        return notices, 0.0

    def installing(self) -> list[Notice]:
        return self._enter("Installing")

    def installed(self, verified: bool) -> list[Notice]:
        """Unpacked beside the running release (the LC restarts into it next), or not."""
        return self._enter("InstallRebooting" if verified else "InstallVerificationFailed")

    @property
    def over(self) -> bool:
        return self.status in FINAL

    def _enter(self, status: str) -> list[Notice]:
        if self.over:
            raise RuntimeError(f"update {self.plan.request_id} is over ({self.status})")
        self.status = status
        return notices_for(status, self.plan.request_id)


# How an update of the LC itself ended, by its last 2.0.1 status (InvalidCertificate: the
# answer; InstallationFailed: the release it fell back to reports the rollback).
OUTCOMES = {
    "Installed": "installed",
    "InstallationFailed": "rolled_back",
    "InvalidSignature": "invalid_signature",
    "InvalidCertificate": "invalid_certificate",
    "DownloadFailed": "download_failed",
    "InstallVerificationFailed": "install_failed",
}


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """The last UpdateFirmware of the LC itself as the site manager sees it; it outlives the
    restart into the new release, which tells how it ended."""

    location: str
    state: str  # its latest 2.0.1 status (InvalidCertificate: the answer)
    since: float  # wall time of that status

    @property
    def outcome(self) -> str | None:
        """None while it runs."""
        return OUTCOMES.get(self.state)


def notices_for(status: str, request_id: int) -> list[Notice]:
    """The (Signed)FirmwareStatusNotification for `status`, with its request's id."""
    return [{"status": status, "requestId": request_id}]
