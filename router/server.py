"""The router: accept chargers, pair each with its own CSMS link, and run the pairs.

The parts, each in its own module: the charger port's server (router/charger_connections.py),
a charger's handshake up to its running pair (router/charger_handshake.py), its new link
(router/link_builder.py), the running links (router/link_registry.py), dialling the CSMS
(router/csms_dials.py) and, under `hold`, the journal and the backlogs of chargers not
connected (router/hold_policy.py). This wires them, serves the other parts of the LC (the
`chargers.Chargers` seam, certificate renewal), and starts and stops them in order.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web

from router import events as ev
from router.charger_connections import ChargerConnections, ChargerSite
from router.charger_handshake import ChargerHandshakes
from router.csms_dials import CsmsDials
from router.frames import OcppVersion
from router.handshake_refusals import HandshakeRefusals
from router.hold_policy import HoldPolicy
from router.journal import Journal
from router.link_builder import LinkBuilder
from router.link_registry import LinkRegistry
from router.metrics import RouterMetrics
from router.schemas import SchemaRegistry, default_registry
from router.settings import RouterSettings
from router.start_error import listen_failure
from router.timer_rounding import NO_ROUNDING
from router.tls_failures import record_charger_handshake_failures

log = logging.getLogger(__name__)

# Connections the kernel queues before the LC accepts them (capped by net.core.somaxconn):
# after a power cut every charger connects at once, and one that overflows a short queue
# waits a SYN retry (1 s, then 3 s) for nothing.
_LISTEN_BACKLOG = 4096


class Router:
    def __init__(
        self,
        settings: RouterSettings,
        metrics: RouterMetrics | None = None,
        schemas: SchemaRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or RouterMetrics()
        self._subscribers: list[Callable[[ev.Event], None]] = []
        self._refusals = HandshakeRefusals(self.metrics)
        self._dials = CsmsDials(settings, self.metrics, self._publish, self._security_event)
        self._links = LinkRegistry(self.metrics)
        # Under `hold`, the journal and the backlogs of chargers that are not connected.
        self._hold: HoldPolicy | None = None
        if settings.hold is not None:
            self._hold = HoldPolicy(
                settings.hold,
                self._dials.dial_in_turn,
                self.metrics,
                settings.session.call_timeout_s,
                present=lambda identity: identity in self._links,
            )
        builder = LinkBuilder(
            settings, schemas or default_registry(), self.metrics, self._publish, self._hold
        )
        self._handshakes = ChargerHandshakes(
            settings, self.metrics, self._links, self._dials, self._refusals, self._hold, builder
        )
        self._connections: ChargerConnections | None = None
        self._runner: web.ServerRunner | None = None
        # The certificates new charger handshakes get: renewed by `use_server_certificates`.
        self._server_certificates = settings.server_ssl
        self.port: int | None = None

    # -- public API --------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[ev.Event], None]) -> None:
        """Call `callback` with every observation event, in the order observed."""
        self._subscribers.append(callback)

    def connected(self) -> dict[str, OcppVersion]:
        return self._links.connected()

    @property
    def open_connections(self) -> int:
        """TCP connections on the charger port, upgraded or not (counted by max_connections)."""
        return 0 if self._connections is None else self._connections.open_connections

    @property
    def journal(self) -> Journal | None:
        """Under `hold`, the journal of every charger's held frames, while the router runs."""
        return None if self._hold is None else self._hold.journal

    @property
    def csms_certificate_invalid(self) -> bool:
        """The CSMS's certificate failed verification at the last TLS handshake with it."""
        return self._dials.csms_certificate_invalid

    def backlogs_waiting_for_charger(self) -> frozenset[str]:
        """Chargers not connected whose backlog the LC cannot deliver without them."""
        return frozenset() if self._hold is None else self._hold.unattended.waiting

    async def call(
        self,
        identity: str,
        action: str,
        payload: dict[str, Any],
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """The `chargers.Chargers` call: the LC's own CALL to a charger, whose answer never
        reaches the CSMS (§6.4). Raises ChargerNotConnected, ChargerCallTimeout,
        ChargerCallRejected (a CALLERROR), or ValueError for a payload that does not match the
        action's schema."""
        return await self._links.call(identity, action, payload, timeout_s)

    async def start(self) -> None:
        if self._hold is not None:
            await self._hold.start()
        if self.settings.server_ssl is not None:
            self.settings.server_ssl.sni_callback = self._serve_current_certificates
            record_charger_handshake_failures(self.settings.server_ssl, self._security_event)
        self._connections = ChargerConnections(
            self._handle_charger,
            max_connections=self.settings.max_connections,
            handshake_timeout_s=self.settings.handshake_timeout_s,
            on_refused=self._refusals.connection_closed,
            tls=self.settings.server_ssl is not None,
            access_log=None,
            timeout_ceil_threshold=NO_ROUNDING,
        )
        self._runner = web.ServerRunner(self._connections, handle_signals=False)
        await self._runner.setup()
        site = ChargerSite(
            self._runner,
            self.settings.listen_host,
            self.settings.listen_port,
            self.settings.server_ssl,
            self.settings.handshake_timeout_s,
            _LISTEN_BACKLOG,
        )
        try:
            await site.start()
        except OSError as exc:
            raise listen_failure(
                "router", self.settings.listen_host, self.settings.listen_port, exc
            ) from exc
        self.port = int(self._runner.addresses[0][1])
        log.info("listening for chargers on %s:%s", self.settings.listen_host, self.port)

    def use_server_certificates(self, context: ssl.SSLContext) -> bool:
        """Give new charger handshakes the LC's certificates from `context` (renewed files,
        re-read on SIGHUP); connected chargers keep their TLS sessions.

        False, and nothing changes, when `context` differs in what only a restart can change:
        TLS on or off, security profile 3 on or off, the charger CAs.
        """
        running = self.settings.server_ssl
        if (
            running is None
            or context.verify_mode != running.verify_mode
            or context.get_ca_certs(binary_form=True) != running.get_ca_certs(binary_form=True)
        ):
            return False
        self._server_certificates = context
        return True

    def use_upstream_tls(self, context: ssl.SSLContext) -> bool:
        """New CSMS links use `context`: the LC's renewed charging-station certificate and the
        CSMS roots installed since start; links already open keep theirs.

        False, and nothing changes, when the CSMS is not dialled over TLS.
        """
        if self.settings.upstream_ssl is None:
            return False
        self._dials.use_ssl_context(context)
        return True

    async def redial_csms_links(self, timeout_s: float = 30.0) -> int:
        """Move the open CSMS links to the TLS context given last, one charger at a time, so
        the CSMS never sees them all reconnect at once. Under `hold` only (the charger's link
        stays; under `close` a CSMS link cannot close without its charger). The number moved.
        """
        if self.settings.hold is None:
            return 0
        return await self._links.redial_csms(timeout_s)

    async def stop(self) -> None:
        await self._handshakes.stop()
        # Let every pair finish its close handshakes before the server stops reading sockets.
        await self._links.close_all(reason="the LC is stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._hold is not None:
            await self._hold.stop()
        await self._dials.close()

    # -- inside ------------------------------------------------------------------------------

    def _serve_current_certificates(
        self, connection: ssl.SSLObject, _server_name: str | None, listening: ssl.SSLContext
    ) -> None:
        # Called for every ClientHello, with or without SNI. Switching the context switches
        # the certificates and keys only: verification stays the listening context's.
        current = self._server_certificates
        if current is not None and current is not listening:
            connection.context = current

    def _security_event(self, event_type: str, tech_info: str) -> None:
        """One of the LC's security events that is no single charger's (the log keeps it)."""
        self._publish(ev.SecurityEventRaised("", event_type, tech_info))

    def _publish(self, event: ev.Event) -> None:
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:  # a subscriber's bug must not break relaying
                log.exception("event subscriber failed on %r", event)

    async def _handle_charger(self, request: web.BaseRequest) -> web.StreamResponse:
        assert self._connections is not None
        self._connections.request_read(request.protocol)
        return await self._handshakes.handle(request)
