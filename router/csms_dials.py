"""Dialling the CSMS for chargers: at most `max_csms_dials` at once, as after an outage every
charger redials at the same moment. A refusal is counted, and a security event when it is the
charger's credentials the CSMS refused (A04).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from aiohttp.client_ws import ClientWebSocketResponse

from ocpp_knowledge.security_events import RecordSecurityEvent
from router import events as ev
from router.metrics import RouterMetrics
from router.settings import RouterSettings
from router.upstream import CREDENTIALS_REFUSED, UpstreamDialer, UpstreamRefused, UpstreamSettings

log = logging.getLogger(__name__)


class CsmsDials:
    def __init__(
        self,
        settings: RouterSettings,
        metrics: RouterMetrics,
        publish: Callable[[ev.Event], None],
        security_event: RecordSecurityEvent,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._publish = publish
        self._security_event = security_event
        # The CSMS's certificate failed verification at the last TLS handshake with it.
        self.csms_certificate_invalid = False
        self._slots = asyncio.Semaphore(settings.max_csms_dials)
        self._dialer = UpstreamDialer(
            UpstreamSettings(
                settings.upstream_url,
                settings.connect_timeout_s,
                settings.ping_interval_s,
                settings.hard_frame_limit,
                settings.upstream_ssl,
            ),
            self._csms_certificate_checked,
            security_event,
        )

    async def dial(
        self,
        identity: str,
        path: str,
        offered: list[str],
        headers: dict[str, str],
    ) -> ClientWebSocketResponse | UpstreamRefused | None:
        """A charger's CSMS link, the CSMS's refusal (counted), or None when no dial was free
        within the handshake timeout."""
        try:
            async with asyncio.timeout(self._settings.handshake_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            return None
        try:
            return await self._dialer.dial(path, offered, headers)
        except UpstreamRefused as refusal:
            self._metrics.upstream_connect_failures.labels(refusal.reason).inc()
            if refusal.reason in CREDENTIALS_REFUSED:
                info = f"the CSMS refused {identity}'s credentials ({refusal.reason})"
                self._publish(ev.SecurityEventRaised(identity, "FailedToAuthenticateAtCsms", info))
            return refusal
        finally:
            self._slots.release()

    async def dial_in_turn(
        self, path: str, offered: list[str], headers: dict[str, str]
    ) -> ClientWebSocketResponse:
        """Dial the CSMS again for a charger (its link's redial, a replay without it), in turn
        with the handshakes."""
        async with self._slots:
            return await self._dialer.dial(path, offered, headers)

    def use_ssl_context(self, context: ssl.SSLContext) -> None:
        self._dialer.use_ssl_context(context)

    async def close(self) -> None:
        await self._dialer.close()

    def _csms_certificate_checked(self, problem: str | None) -> None:
        """A CSMS certificate that does not verify is a security event (A00.FR.413), logged
        when it starts and when it ends; chargers meanwhile are held as in an outage."""
        invalid = problem is not None
        if invalid and not self.csms_certificate_invalid:
            self._security_event("InvalidCsmsCertificate", f"chargers' CSMS links: {problem}")
        elif not invalid and self.csms_certificate_invalid:
            log.warning("the CSMS's certificate verifies again")
        self.csms_certificate_invalid = invalid
        self._metrics.csms_certificate_invalid.set(int(invalid))
