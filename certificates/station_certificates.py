"""The LC's certificates behind its own OCPP connection to the CSMS: the handlers that
connection registers (`action -> handler(payload) -> response payload`) and the inputs it
feeds (a TriggerMessage, the SignCertificate answer, time). It stays free of sockets: what it
must send, raise or switch to goes to the three callables it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from certificates.config import CertificateSettings
from certificates.handlers import CertificateHandlers, Handler, Payload, checked_payload
from certificates.own_identity import OwnCertificate, OwnCertificates
from certificates.renewal import (
    CertificateRenewal,
    Output,
    RaiseSecurityEvent,
    RenewalSettings,
    SendSignCertificate,
    UseNewCertificate,
)
from certificates.trust_store import TrustStore
from ocpp_knowledge.security_events import RecordSecurityEvent

# A00.FR.602: a CSO may sign the charging-station certificate from its V2G hierarchy.
SIGNING_ROOTS = ("CSMSRootCertificate", "V2GRootCertificate")


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
    ) -> None:
        """`send_call(action, payload)`: a CALL to the CSMS; `security_event(type, techInfo)`:
        a SecurityEventNotification; `use_certificate`: connect with this certificate now
        (`Router.use_upstream_tls`, then `redial_csms_links`). `store` and `own`: the trust
        store and own certificates on the settings' folders the rest of the LC reads, so what
        is installed or renewed here is what it sees."""
        self.store = store or TrustStore(settings.trust_folder)
        self.own = own or OwnCertificates(settings.own_folder)
        self.renewal = CertificateRenewal(
            RenewalSettings(
                identity,
                settings.organization,
                settings.key_type,
                settings.cert_signing_wait_minimum_s,
                settings.cert_signing_repeat_times,
                settings.renew_days,
            )
        )
        self._trust = CertificateHandlers(self.store, self._own_hash_data, clock)
        self._send_call = send_call
        self._security_event = security_event
        self._use_certificate = use_certificate
        self._clock = clock

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
        accepted = response is not None and response.get("status") == "Accepted"
        self._apply(self.renewal.sign_certificate_answered(accepted, self._clock()))

    def tick(self) -> None:
        """Now and then (a minute is plenty): resends, a certificate becoming valid, expiry."""
        now = self._clock()
        current = self.own.current(now)
        outputs = self.renewal.tick(now)
        outputs += self.renewal.check_expiry(current.certificate if current else None, now)
        self._apply(outputs)

    def _apply(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, SendSignCertificate):
                self._send_call("SignCertificate", output.payload)
            elif isinstance(output, RaiseSecurityEvent):
                self._security_event(output.type, output.tech_info)
            elif isinstance(output, UseNewCertificate):
                self._use_certificate(self.own.store(output))
