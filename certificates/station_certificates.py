"""The LC's certificates behind its own OCPP connection to the CSMS: the handlers that
connection registers (`action -> handler(payload) -> response payload`) and the inputs it
feeds (a TriggerMessage, the SignCertificate answer, time). It stays free of sockets: what it
must send, raise or switch to goes to the three callables it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from certificates.config import CertificateSettings
from certificates.handlers import CertificateHandlers, Handler, Payload, checked_payload
from certificates.own_identity import OwnCertificate, OwnCertificates
from certificates.renewal import (
    CertificateRenewal,
    ForgetPendingKey,
    KeepPendingKey,
    Output,
    RaiseSecurityEvent,
    RenewalSettings,
    SendSignCertificate,
    UseNewCertificate,
)
from certificates.trust_store import TrustStore
from ocpp_knowledge.security_events import RecordSecurityEvent

log = logging.getLogger(__name__)

# A00.FR.602: a CSO may sign the charging-station certificate from its V2G hierarchy.
SIGNING_ROOTS = ("CSMSRootCertificate", "V2GRootCertificate")


def renewal_settings(
    settings: CertificateSettings, identity: str, holds_valid_from_later: bool
) -> RenewalSettings:
    return RenewalSettings(
        identity,
        settings.organization,
        settings.key_type,
        settings.cert_signing_wait_minimum_s,
        settings.cert_signing_repeat_times,
        settings.renew_days,
        settings.max_certificate_chain_size,
        holds_valid_from_later,
    )


class StationCertificates:
    def __init__(
        self,
        settings: CertificateSettings,
        identity: str,
        send_call: Callable[[str, Payload], None],
        security_event: RecordSecurityEvent,
        use_certificate: Callable[[OwnCertificate], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        store: TrustStore | None = None,
        own: OwnCertificates | None = None,
        configured_certificate: Callable[[], Path | None] = lambda: None,
        holds_valid_from_later: bool = False,
    ) -> None:
        """`send_call(action, payload)`: a CALL to the CSMS; `security_event(type, techInfo)`:
        a SecurityEventNotification; `use_certificate`: connect with this certificate now
        (`Router.use_upstream_tls`, then `redial_csms_links`). `store` and `own`: the trust
        store and own certificates on the settings' folders the rest of the LC reads, so what
        is installed or renewed here is what it sees. `configured_certificate`: the file of
        the certificate the LC presents while it has no renewed one ([router.upstream_tls]),
        watched for expiry like a renewed one (A03). `holds_valid_from_later`: a signed
        certificate valid from later is Accepted and used then (1.6), not Rejected (2.0.1)."""
        self.store = store or TrustStore(settings.trust_folder)
        self.own = own or OwnCertificates(settings.own_folder)
        self._identity = identity
        self._holds_valid_from_later = holds_valid_from_later
        self.renewal = CertificateRenewal(
            renewal_settings(settings, identity, holds_valid_from_later)
        )
        self._trust = CertificateHandlers(self.store, self._own_hash_data, clock)
        self._send_call = send_call
        self._security_event = security_event
        self._use_certificate = use_certificate
        self._clock = clock
        self._configured_certificate = configured_certificate
        pending = self.own.pending()
        if pending is not None:
            self.renewal.restore_pending(pending, clock())

    def use_settings(self, settings: CertificateSettings) -> None:
        """The CSMS changed SecurityCtrlr's settings: the next request and resend use them."""
        self.renewal.settings = renewal_settings(
            settings, self._identity, self._holds_valid_from_later
        )

    def _own_hash_data(self, algorithm: str) -> list[Payload]:
        roots = self.store.roots(*SIGNING_ROOTS)
        return [own.hash_data(algorithm, roots) for own in self.own.all()]

    def table(self) -> dict[str, Handler]:
        return {**self._trust.table(), "CertificateSigned": self.certificate_signed}

    def certificate_signed(self, payload: Payload) -> Payload:
        request = checked_payload("CertificateSigned", True, payload)
        roots = self.store.roots(*SIGNING_ROOTS)
        response, outputs = self.renewal.certificate_signed(request, roots, self._clock())
        self._apply(outputs)
        return checked_payload("CertificateSigned", False, response)

    def trigger(self) -> None:
        """After answering TriggerMessage SignChargingStationCertificate with Accepted."""
        self._apply(self.renewal.trigger(self._clock()))

    def sign_certificate_answered(self, response: Payload | None) -> None:
        """The SignCertificateResponse payload, or None for no answer / a CALLERROR."""
        accepted = None if response is None else response.get("status") == "Accepted"
        self._apply(self.renewal.sign_certificate_answered(accepted, self._clock()))

    def renewed_discarded(self) -> None:
        """The renewed certificate never connected and was discarded (A02.FR.29)."""
        self.renewal.renewed_discarded(self._clock())

    def tick(self) -> None:
        """Now and then (a minute is plenty): resends, a certificate becoming valid, expiry."""
        now = self._clock()
        current = self.own.current(now)
        in_use = current.certificate if current else self._configured()
        outputs = self.renewal.tick(now)
        outputs += self.renewal.check_expiry(in_use, now)
        self._apply(outputs)

    def _configured(self) -> x509.Certificate | None:
        path = self._configured_certificate()
        if path is None:
            return None
        try:
            return x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("cannot read the configured certificate %s for its expiry: %s", path, exc)
            return None

    def _apply(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, SendSignCertificate):
                self._send_call("SignCertificate", output.payload)
            elif isinstance(output, RaiseSecurityEvent):
                self._security_event(output.type, output.tech_info)
            elif isinstance(output, UseNewCertificate):
                self._use_certificate(self.own.store(output))
            elif isinstance(output, KeepPendingKey):
                self.own.keep_pending(output.private_key_pem)
            elif isinstance(output, ForgetPendingKey):
                self.own.forget_pending()
