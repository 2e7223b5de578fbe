"""The LC's certificates on its own link to the CSMS (blocks A and M): the CSMS installs,
lists and deletes CA certificates, triggers a renewal and sends the signed certificate; the
LC sends its SignCertificate requests and renews by itself before expiry. Towards a 1.6 CSMS
the same, in the security whitepaper's words (`certificates.wording_v16`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from certificates.config import CertificateSettings
from certificates.handlers import Payload
from certificates.own_identity import OwnCertificate, OwnCertificates
from certificates.station_certificates import StationCertificates
from certificates.trust_store import TrustStore
from certificates.wording_v16 import sign_certificate_in_16, worded_in_16
from ocpp_knowledge.security_events import RecordSecurityEvent
from router.frames import OcppVersion
from station.link import StationCallFailed, StationLink
from supervision.tasks import Tasks

log = logging.getLogger(__name__)

# How often resends, a signed certificate becoming valid and expiry are looked at.
TICK_INTERVAL_S = 60.0


class CertificatesAtCsms:
    def __init__(
        self,
        link: StationLink,
        settings: CertificateSettings,
        store: TrustStore,
        own: OwnCertificates,
        use_certificate: Callable[[OwnCertificate], None],
        tasks: Tasks,
        record_security_event: RecordSecurityEvent,
        configured_certificate: Callable[[], Path | None] = lambda: None,
    ) -> None:
        """`record_security_event`: where InvalidChargingStationCertificate goes (the LC's
        security log); `configured_certificate`: see `StationCertificates`."""
        self._link = link
        self._tasks = tasks
        self._v16 = link.session.dialect.version is OcppVersion.V16
        self.certificates = StationCertificates(
            settings,
            link.settings.identity,
            self._send_call,
            record_security_event,
            use_certificate,
            store=store,
            own=own,
            configured_certificate=configured_certificate,
            # The whitepaper switches to a certificate at its 'not valid before' (A02.FR.08);
            # 2.0.1's errata reject one not valid yet (A02.FR.06).
            holds_valid_from_later=self._v16,
        )

    def wire(self) -> None:
        """Register the handlers and the trigger on the link; start the periodic check."""
        for action, handler in self.certificates.table().items():
            self._link.register(action, worded_in_16(action, handler) if self._v16 else handler)
        self._link.on_trigger("SignChargingStationCertificate", self._triggered)
        self._tasks.spawn(self._tick_periodically(), "certificate renewal")

    async def _triggered(self) -> None:
        self.certificates.trigger()

    def _send_call(self, action: str, payload: Payload) -> None:
        # StationCertificates only ever sends SignCertificate; its answer goes back to it.
        self._tasks.spawn(self._sign_certificate(action, payload), f"station {action}")

    async def _sign_certificate(self, action: str, payload: Payload) -> None:
        if self._v16:
            payload = sign_certificate_in_16(payload)
        try:
            response: Payload | None = await self._link.call(action, payload)
        except StationCallFailed as exc:
            log.warning("%s not answered: %s", action, exc)
            response = None
        self.certificates.sign_certificate_answered(response)

    async def _tick_periodically(self) -> None:
        while True:
            self.certificates.tick()
            await asyncio.sleep(TICK_INTERVAL_S)
