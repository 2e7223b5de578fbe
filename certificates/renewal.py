"""A02/A03: renewing the LC's charging-station certificate, sans-I/O.

The LC's OCPP channel feeds it time and the CSMS's messages; it answers with outputs: a
SignCertificate request to send, a security event to raise, a new certificate to store and
use, the pending private key to keep (or forget) on disk. The key leaves it solely inside
`KeepPendingKey` and `UseNewCertificate`, to be written to a 0600 file, never in a payload;
kept, it lets a CertificateSigned that arrives after an LC restart be accepted
(`restore_pending`).

- Start: a TriggerMessage for SignChargingStationCertificate (A02), or the current certificate
  expiring within `renew_days` (A03).
- Waiting: no CertificateSigned `cert_signing_wait_minimum_s` after the SignCertificate (or
  after it went unanswered), send the same CSR again, doubling the wait each time, at most
  `cert_signing_repeat_times` times (A02.FR.17-19); then only a trigger starts again.
- CertificateSigned: accepted only for a chain that leads to an installed CSMS or V2G root
  (the CSO hierarchy, A00.FR.602), for the pending key, with the LC's identity as CN, not
  expired. Anything else is Rejected, discarded and an InvalidChargingStationCertificate
  security event; no automatic retry follows until a trigger (A02.FR.07/20).
- A certificate valid from later: over 2.0.1 it is not valid at the time of the update, so
  Rejected like any invalid one (the edition 3 errata's A02.FR.06/A03.FR.06); over 1.6 it is
  Accepted and used from its 'not valid before' on (the whitepaper's A02.FR.08/A03.FR.08).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from certificates.chain import ChainProblem, parse_chain, verify_chain
from certificates.keys import (
    KeyType,
    PrivateKey,
    build_csr,
    csr_pem,
    generate_key,
    private_key_pem,
    same_public_key,
)

SECURITY_EVENT = "InvalidChargingStationCertificate"
TECH_INFO_LIMIT = 255  # SecurityEventNotificationRequest.techInfo
# After the CSMS refused a SignCertificate or stopped answering, an expiring certificate is
# not asked for again before this (a TriggerMessage may ask at any time).
EXPIRY_RETRY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RenewalSettings:
    identity: str  # the LC's identity towards the CSMS: the certificate's CN
    organization: str  # SecurityCtrlr.OrganizationName: the certificate's O
    key_type: KeyType = KeyType.ECDSA_P256
    cert_signing_wait_minimum_s: float = 60.0
    cert_signing_repeat_times: int = 3
    renew_days: float = 30.0  # A03.FR.02: one month before expiry
    max_chain_size: int = 10000  # SecurityCtrlr.MaxCertificateChainSize
    # Whether a certificate valid from later is held until then (1.6) or Rejected (2.0.1).
    holds_valid_from_later: bool = False


@dataclass(frozen=True, slots=True)
class SendSignCertificate:
    """Send a SignCertificateRequest with this payload."""

    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RaiseSecurityEvent:
    type: str
    tech_info: str


@dataclass(frozen=True, slots=True)
class UseNewCertificate:
    """Store this certificate chain and key beside the old ones, then connect with them."""

    chain_pem: bytes
    private_key_pem: bytes = field(repr=False)  # never in a log line
    not_before: datetime


@dataclass(frozen=True, slots=True)
class KeepPendingKey:
    """Keep the key of the CSR just made (0600), so its certificate is accepted after a
    restart."""

    private_key_pem: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ForgetPendingKey:
    """No CSR is pending any more: remove its kept key."""


Output = (
    SendSignCertificate | RaiseSecurityEvent | UseNewCertificate | KeepPendingKey | ForgetPendingKey
)


@dataclass(slots=True)
class _Pending:
    key: PrivateKey = field(repr=False)
    csr: str
    sent: int = 0  # SignCertificate requests sent for this CSR
    next_send: datetime | None = None  # when to send it again; None: not accepted yet


class CertificateRenewal:
    def __init__(self, settings: RenewalSettings) -> None:
        self.settings = settings
        self._pending: _Pending | None = None
        self._signed: UseNewCertificate | None = None  # accepted, valid from later (1.6)
        self._automatic_after: datetime | None = None  # no A03 start before (None: any time)

    @property
    def waiting(self) -> bool:
        """Whether a CSR is out and its certificate not yet received."""
        return self._pending is not None

    def restore_pending(self, key: PrivateKey, now: datetime) -> None:
        """The pending key kept before a restart: its certificate is accepted when it comes,
        and its CSR is sent again if it does not come within the wait (A02.FR.17)."""
        csr = build_csr(key, self.settings.identity, self.settings.organization)
        wait = timedelta(seconds=self.settings.cert_signing_wait_minimum_s)
        self._pending = _Pending(key, csr_pem(csr), sent=1, next_send=now + wait)

    # ---- starts ----

    def trigger(self, now: datetime) -> list[Output]:
        """TriggerMessage SignChargingStationCertificate, after its response was sent."""
        self._automatic_after = None
        return self._start(now)

    def check_expiry(self, current: x509.Certificate | None, now: datetime) -> list[Output]:
        """A03: start when the certificate in use expires within `renew_days`."""
        if current is None or self._pending is not None or self._signed is not None:
            return []
        if self._automatic_after is not None and now < self._automatic_after:
            return []
        renew_at = current.not_valid_after_utc - timedelta(days=self.settings.renew_days)
        if now < renew_at:
            return []
        return self._start(now)

    def _start(self, now: datetime) -> list[Output]:
        key = generate_key(self.settings.key_type)
        csr = build_csr(key, self.settings.identity, self.settings.organization)
        self._pending = _Pending(key, csr_pem(csr))
        return [KeepPendingKey(private_key_pem(key)), self._send()]

    def _send(self) -> SendSignCertificate:
        assert self._pending is not None
        self._pending.sent += 1
        return SendSignCertificate(
            {"csr": self._pending.csr, "certificateType": "ChargingStationCertificate"}
        )

    # ---- the CSMS's answers ----

    def sign_certificate_answered(self, accepted: bool | None, now: datetime) -> list[Output]:
        """The SignCertificateResponse's status; None for no usable answer (the link lost,
        a timeout, a CALLERROR): the CSMS may have the request all the same, so it is waited
        for and sent again like an accepted one (A02.FR.17), within the same repeats."""
        if self._pending is None:
            return []
        if accepted is False:
            return self._give_up(now)
        wait = self.settings.cert_signing_wait_minimum_s * 2 ** (self._pending.sent - 1)
        self._pending.next_send = now + timedelta(seconds=wait)
        return []

    def tick(self, now: datetime) -> list[Output]:
        """Time passing: resend an unanswered CSR, use a certificate that became valid."""
        outputs: list[Output] = []
        if self._signed is not None and now >= self._signed.not_before:
            outputs += [self._signed, ForgetPendingKey()]
            self._signed = None
        pending = self._pending
        if pending is not None and pending.next_send is not None and now >= pending.next_send:
            if pending.sent > self.settings.cert_signing_repeat_times:
                outputs += self._give_up(now)  # A02.FR.19: until the CSMS triggers it again
            else:
                pending.next_send = None
                outputs.append(self._send())
        return outputs

    def renewed_discarded(self, now: datetime) -> None:
        """No CSMS connection took the renewed certificate, so it was discarded (A02.FR.29):
        the one still in use is not renewed again by itself before `EXPIRY_RETRY` (the CSMS
        may trigger a renewal at any time)."""
        self._automatic_after = now + EXPIRY_RETRY

    def _give_up(self, now: datetime) -> list[Output]:
        self._pending = None
        self._automatic_after = now + EXPIRY_RETRY
        return [ForgetPendingKey()]

    def certificate_signed(
        self, payload: dict[str, Any], roots: list[x509.Certificate], now: datetime
    ) -> tuple[dict[str, Any], list[Output]]:
        """The CertificateSignedResponse payload, and what follows.

        `roots`: the installed CSMSRootCertificate and V2GRootCertificate certificates.
        """
        if payload.get("certificateType", "ChargingStationCertificate") != (
            "ChargingStationCertificate"
        ):
            return self._reject("a V2G certificate: the LC has no ISO 15118 side", now)
        if len(str(payload["certificateChain"])) > self.settings.max_chain_size:
            # A02.FR.16: refused, but nothing wrong with the certificate: the request stays
            # pending for a chain that fits.
            info = f"longer than MaxCertificateChainSize {self.settings.max_chain_size}"
            return {
                "status": "Rejected",
                "statusInfo": {"reasonCode": "ChainTooLong", "additionalInfo": info},
            }, []
        pending = self._pending
        if pending is None:
            return self._reject("no certificate signing request is pending", now)
        try:
            chain = parse_chain(str(payload["certificateChain"]))
            leaf = chain[0]
            if not same_public_key(leaf, pending.key):
                raise ChainProblem("certificate for another key than the LC's pending one")
            common_names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if [attribute.value for attribute in common_names] != [self.settings.identity]:
                raise ChainProblem("CN is not the LC's identity")
            if now < leaf.not_valid_before_utc and not self.settings.holds_valid_from_later:
                raise ChainProblem(f"certificate not valid before {leaf.not_valid_before_utc}")
            verify_chain(chain, roots, now)
        except ChainProblem as exc:
            return self._reject(str(exc), now)
        self._pending = None
        new = UseNewCertificate(
            chain_pem=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
            private_key_pem=private_key_pem(pending.key),
            not_before=leaf.not_valid_before_utc,
        )
        if now >= new.not_before:
            return {"status": "Accepted"}, [new, ForgetPendingKey()]
        self._signed = new  # the pending key stays kept until it is used
        return {"status": "Accepted"}, []

    def _reject(self, reason: str, now: datetime) -> tuple[dict[str, Any], list[Output]]:
        # A02.FR.07: discard it; A02.FR.20: no new request until the CSMS triggers one.
        self._pending = None
        self._automatic_after = datetime.max.replace(tzinfo=now.tzinfo)
        event = RaiseSecurityEvent(SECURITY_EVENT, reason[:TECH_INFO_LIMIT])
        response = {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCertificate"}}
        return response, [event, ForgetPendingKey()]
