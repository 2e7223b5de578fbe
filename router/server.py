"""The router: accept chargers, pair each with its own CSMS link, and run the pairs.

Handshake (Part 4 §6.2): the CSMS is dialled first with the charger's path, subprotocols and
Authorization header; the charger is accepted only if the CSMS accepted, with the subprotocol
the CSMS chose, and otherwise gets the CSMS's refusal (401, 404, ...) or 502/504 when the CSMS
cannot be reached.

Before that, the LC admits the handshake at all (router/admission.py: a rate per source
address, a bound on handshakes in progress), reads its path without normalising it
(router/charger_path.py) and checks who the charger is, as the CSMS it is towards chargers
(Part 4 §6.5): an allow-list of identities, the Basic-auth user (A00.FR.303) and, under
security profile 3, the certificate's CN (A00.FR.405). A charger that fails gets no CSMS
connection.

A charger that connects again replaces its earlier pair only once the CSMS accepted the new
connection and the charger is upgraded: a refused or failed handshake leaves the connected
charger alone. Pairs of one identity are claimed one after the other, so one pair per
identity runs, the one accepted last.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.client_ws import ClientWebSocketResponse

from router import events as ev
from router.admission import AdmissionSettings, HandshakeAdmission, rate_key
from router.charger_connections import ChargerConnections, ChargerSite
from router.charger_path import BadChargerPath, ChargerPath, parse_charger_path
from router.chargers import ChargerNotConnected
from router.frame_tap import TappedWebSocketResponse
from router.frames import OcppVersion
from router.journal import Journal, JournalError
from router.journal_bounds import JournalLimits
from router.keyed_lock import KeyedLock
from router.link import ChargerLimits, HoldLink, Link
from router.log_limit import LogLimiter
from router.metrics import RouterMetrics
from router.offline import OfflineKnowledge, OfflineRelay, OfflineSettings, authorization_scope
from router.rate_limit import FrameBudget
from router.schemas import SchemaRegistry, default_registry
from router.sealed_credentials import CredentialSealer
from router.session import LinkSession, SessionSettings
from router.start_error import StartError, listen_failure
from router.tls import CertificateFiles, UpstreamTlsSettings
from router.tls_failures import record_charger_handshake_failures
from router.unattended_replay import UnattendedReplay, stored_handshake
from router.upstream import (
    CREDENTIALS_REFUSED,
    OUTAGE_REASONS,
    UpstreamDialer,
    UpstreamRefused,
    UpstreamSettings,
)
from supervision.tasks import Tasks

log = logging.getLogger(__name__)

# aiohttp closes a link outright (1009) above this multiple of the configured frame limit;
# between the two, the session answers with a CALLERROR and the link stays up.
HARD_FRAME_LIMIT_FACTOR = 4


@dataclass(frozen=True, slots=True)
class RouterSettings:
    upstream_url: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 9000
    ping_interval_s: float | None = 30.0
    connect_timeout_s: float = 10.0
    session: SessionSettings = field(default_factory=SessionSettings)
    # Each charger's frames are read at this rate on average, bursts up to frame_burst
    # (router/rate_limit.py); None: unlimited.
    max_frames_per_s: float | None = 50.0
    frame_burst: int = 200
    # A charger's frame whose first bytes arrived must be complete within this, or its link
    # is closed (1008); None: no limit.
    frame_timeout_s: float | None = 30.0
    # A charger's invalid frames are logged one line per this interval, with a count.
    violation_log_interval_s: float = 60.0
    # Charger connections beyond this are refused with 503; None: no limit.
    max_chargers: int | None = None
    # TCP sockets on the charger port, upgraded or not; one beyond is closed. None: no limit.
    max_connections: int | None = 1000
    # A socket must deliver its whole upgrade request within this time of being accepted, and
    # may then wait this long for its turn to dial the CSMS.
    handshake_timeout_s: float = 10.0
    admission: AdmissionSettings = field(default_factory=AdmissionSettings)
    # CSMS dials at once; handshakes beyond wait (up to handshake_timeout_s, then 503).
    max_csms_dials: int = 20
    # Security profiles 2/3 (router/tls.py): the LC's TLS server context towards chargers (one
    # that requires client certificates means profile 3) and its client context towards the
    # CSMS. Contexts only compare as the same object: left out of comparisons, so a reloaded
    # config is not reported as changed for them.
    server_ssl: ssl.SSLContext | None = field(default=None, compare=False)
    upstream_ssl: ssl.SSLContext | None = field(default=None, compare=False)
    # The certificate files behind those contexts, by use (charger_server, charger_ca,
    # upstream_client, upstream_ca): what the certificate expiry metric reads.
    certificate_files: CertificateFiles = ()
    # What upstream_ssl was built from: the LC rebuilds it with renewed certificates.
    upstream_tls: UpstreamTlsSettings | None = None
    # Security profile 3: a charger certificate's O must contain this (A00.FR.404); None: any.
    charger_organization: str | None = None
    # Only these charger identities may connect (404 otherwise); None: any.
    allowed_identities: frozenset[str] | None = None
    # None: the `close` policy of Part 4 §6.3; otherwise `hold` (errata 2025-02).
    hold: HoldSettings | None = None


@dataclass(frozen=True, slots=True)
class HoldSettings:
    journal_path: Path
    offline: OfflineSettings = field(default_factory=OfflineSettings)
    # keep_credentials: Basic-auth headers are stored sealed with the backlog (None: not kept).
    sealer: CredentialSealer | None = field(default=None, compare=False, repr=False)
    limits: JournalLimits = field(default_factory=JournalLimits)


# Provisional 1.6 transaction ids each charger keeps ready for StartTransactions offline.
_PROVISIONAL_RESERVE = 4
_BACKLOG_REPORT_S = 5.0
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
        self._schemas = schemas or default_registry()
        hard_limit = settings.session.max_frame_chars * HARD_FRAME_LIMIT_FACTOR
        self._hard_frame_limit = hard_limit
        # The CSMS's certificate failed verification at the last TLS handshake with it.
        self.csms_certificate_invalid = False
        self._dialer = UpstreamDialer(
            UpstreamSettings(
                settings.upstream_url,
                settings.connect_timeout_s,
                settings.ping_interval_s,
                hard_limit,
                settings.upstream_ssl,
            ),
            self._csms_certificate_checked,
            self._security_event,
        )
        self._links: dict[str, Link] = {}
        self._connecting = 0  # charger handlers running: connected or being connected
        self._admission = HandshakeAdmission(settings.admission)
        self._refusal_log = LogLimiter()
        self._dial_slots = asyncio.Semaphore(settings.max_csms_dials)
        self._claims = KeyedLock()  # one pair per identity: claimed one after the other
        self._handshakes: set[asyncio.Task[Any]] = set()  # being opened, not running yet
        self._stopping = False
        self._connections: ChargerConnections | None = None
        self.journal: Journal | None = None
        self._knowledge = OfflineKnowledge()
        hold = settings.hold
        # Under `hold`, backlogs of chargers that are not connected (router/unattended_replay.py).
        self._unattended = UnattendedReplay(
            self._dial_in_turn,
            self.metrics,
            hold.offline if hold is not None else OfflineSettings(),
            self._knowledge,
            hold.sealer if hold is not None else None,
            settings.session.call_timeout_s,
            present=lambda identity: identity in self._links,
        )
        self._background = Tasks()
        self._subscribers: list[Callable[[ev.Event], None]] = []
        self._runner: web.ServerRunner | None = None
        # The certificates new charger handshakes get: renewed by `use_server_certificates`.
        self._server_certificates = settings.server_ssl
        self.port: int | None = None
        self.metrics.watch_queue_depths(
            lambda: [link.session.queue_depth for link in self._links.values()]
        )

    # -- public API --------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[ev.Event], None]) -> None:
        """Call `callback` with every observation event, in the order observed."""
        self._subscribers.append(callback)

    def connected(self) -> dict[str, OcppVersion]:
        return {identity: link.version for identity, link in self._links.items()}

    @property
    def open_connections(self) -> int:
        """TCP connections on the charger port, upgraded or not (counted by max_connections)."""
        return 0 if self._connections is None else self._connections.open_connections

    def backlogs_waiting_for_charger(self) -> frozenset[str]:
        """Chargers not connected whose backlog the LC cannot deliver without them."""
        return self._unattended.waiting

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
        link = self._links.get(identity)
        if link is None:
            raise ChargerNotConnected(identity)
        return await link.call(action, payload, timeout_s)

    async def start(self) -> None:
        if self.settings.hold is not None:
            self.journal = await _open_journal(
                self.settings.hold.journal_path, self.settings.hold.limits
            )
            for version in OcppVersion:
                scope = authorization_scope(version)
                self._knowledge.authorizations[scope] = await self.journal.authorizations(scope)
            self._knowledge.boots = await self.journal.boots()
            self._background.spawn(self._report_backlog(), "journal-backlog-report")
            interval = self.settings.hold.offline.redial_interval_s
            self._background.spawn(
                self._unattended.run(self.journal, interval), "unattended-replay"
            )
        if self.settings.server_ssl is not None:
            self.settings.server_ssl.sni_callback = self._serve_current_certificates
            record_charger_handshake_failures(self.settings.server_ssl, self._security_event)
        self._connections = ChargerConnections(
            self._handle_charger,
            max_connections=self.settings.max_connections,
            handshake_timeout_s=self.settings.handshake_timeout_s,
            on_refused=self._refuse_connection,
            tls=self.settings.server_ssl is not None,
            access_log=None,
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

    def _csms_certificate_checked(self, problem: str | None) -> None:
        """A CSMS certificate that does not verify is a security event (A00.FR.413), logged
        when it starts and when it ends; chargers meanwhile are held as in an outage."""
        invalid = problem is not None
        if invalid and not self.csms_certificate_invalid:
            self._security_event("InvalidCsmsCertificate", f"chargers' CSMS links: {problem}")
        elif not invalid and self.csms_certificate_invalid:
            log.warning("the CSMS's certificate verifies again")
        self.csms_certificate_invalid = invalid
        self.metrics.csms_certificate_invalid.set(int(invalid))

    def _security_event(self, event_type: str, tech_info: str) -> None:
        """One of the LC's security events that is no single charger's (the log keeps it)."""
        self._publish(ev.SecurityEventRaised("", event_type, tech_info))

    def use_upstream_tls(self, context: ssl.SSLContext) -> bool:
        """New CSMS links use `context`: the LC's renewed charging-station certificate and the
        CSMS roots installed since start; links already open keep theirs.

        False, and nothing changes, when the CSMS is not dialled over TLS.
        """
        if self.settings.upstream_ssl is None:
            return False
        self._dialer.use_ssl_context(context)
        return True

    async def redial_csms_links(self, timeout_s: float = 30.0) -> int:
        """Move the open CSMS links to the TLS context given last, one charger at a time, so
        the CSMS never sees them all reconnect at once. Under `hold` only (the charger's link
        stays; under `close` a CSMS link cannot close without its charger). The number moved.
        """
        if self.settings.hold is None:
            return 0
        moved = 0
        for link in list(self._links.values()):
            if await link.redial_csms(timeout_s):
                moved += 1
            else:
                log.warning("%s: its CSMS link did not move to the new TLS identity", link.identity)
        return moved

    def _serve_current_certificates(
        self, connection: ssl.SSLObject, _server_name: str | None, listening: ssl.SSLContext
    ) -> None:
        # Called for every ClientHello, with or without SNI. Switching the context switches
        # the certificates and keys only: verification stays the listening context's.
        current = self._server_certificates
        if current is not None and current is not listening:
            connection.context = current

    async def stop(self) -> None:
        # Handshakes under way end here (and close their CSMS links) rather than add a pair.
        self._stopping = True
        for task in self._handshakes:
            task.cancel()
        await asyncio.gather(*self._handshakes, return_exceptions=True)
        links = list(self._links.values())
        for link in links:
            link.close(reason="the LC is stopping")
        # Let every pair finish its close handshakes before the server stops reading sockets.
        if links:
            await asyncio.wait([asyncio.create_task(link.finished.wait()) for link in links])
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._background.stop()
        await self._dialer.close()
        if self.journal is not None:
            await self.journal.close()
            self.journal = None

    async def _report_backlog(self) -> None:
        assert self.journal is not None
        while True:
            backlog = await self.journal.backlog()
            self.metrics.journal_backlog.set(sum(count for count, _ in backlog.values()))
            oldest = min((at for _, at in backlog.values()), default=None)
            age = 0.0 if oldest is None else max(0.0, time.time() - oldest)
            self.metrics.journal_oldest_age.set(age)
            await asyncio.sleep(_BACKLOG_REPORT_S)

    # -- connections -------------------------------------------------------------------------

    async def _admit_offline(
        self,
        identity: str,
        authorization: str | None,
        offered: list[str],
        refusal: UpstreamRefused,
    ) -> str | None:
        """The subprotocol to accept a charger with while its CSMS is unreachable, or None.

        Only chargers whose credentials the CSMS accepted before get in (DESIGN §8): their
        salted hash is compared, the secret itself is never stored.
        """
        if self.journal is None or refusal.reason not in OUTAGE_REASONS:
            return None
        protocol = await self.journal.admit(identity, authorization)
        if protocol is None or protocol not in offered:
            log.warning("%s: refused while the CSMS is unreachable: unknown credentials", identity)
            return None
        log.info("%s: admitted while the CSMS is unreachable", identity)
        return protocol

    async def _link(
        self,
        identity: str,
        version: OcppVersion,
        charger: web.WebSocketResponse,
        csms: ClientWebSocketResponse | None,
        path: str,
        offered: list[str],
        headers: dict[str, str],
    ) -> Link:
        hold_settings, journal = self.settings.hold, self.journal
        rate = self.settings.max_frames_per_s
        budget = None
        if rate is not None:
            budget = FrameBudget(rate, self.settings.frame_burst, asyncio.get_running_loop().time())
        limits = ChargerLimits(
            budget, self.settings.frame_timeout_s, self.settings.violation_log_interval_s
        )
        if hold_settings is None or journal is None:
            session = LinkSession(identity, version, self.settings.session, self._schemas)
            return Link(session, charger, csms, self.metrics, self._publish, limits)
        reserve: list[int] = []
        if version is OcppVersion.V16:  # 2.0.1 chargers choose their transaction ids
            reserve = await journal.next_provisional_transaction_ids(identity, _PROVISIONAL_RESERVE)
        offline = OfflineRelay(
            identity,
            version,
            hold_settings.offline,
            self._knowledge,
            await journal.transaction_map(identity),
            reserve,
        )
        session = LinkSession(identity, version, self.settings.session, self._schemas, offline)
        hold = HoldLink(
            journal,
            partial(self._dial_in_turn, path, offered, headers),
            hold_settings.offline.redial_interval_s,
            stored_handshake(
                identity,
                path,
                charger.ws_protocol or "",
                headers.get("Authorization"),
                hold_settings.sealer,
            ),
        )
        return Link(session, charger, csms, self.metrics, self._publish, limits, hold)

    def _publish(self, event: ev.Event) -> None:
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:  # a subscriber's bug must not break relaying
                log.exception("event subscriber failed on %r", event)

    async def _handle_charger(self, request: web.BaseRequest) -> web.StreamResponse:
        assert self._connections is not None
        self._connections.request_read(request.protocol)
        source = request.remote or "unknown"
        try:
            # The request target as sent: request.path would be normalised already.
            target = parse_charger_path(request.raw_path)
        except BadChargerPath as bad:
            return self._refuse(source, None, bad.reason, 400, str(bad))
        identity = target.identity
        if request.method != "GET" or request.headers.get("Upgrade", "").lower() != "websocket":
            return self._refuse(
                source, identity, "not_websocket", 400, "expected a WebSocket upgrade"
            )
        refused = self._admission.begin(source, asyncio.get_running_loop().time())
        if refused == "source_rate":
            return self._refuse(source, identity, refused, 429, "too many handshakes from there")
        if refused is not None:
            return self._refuse(source, identity, refused, 503, "too many handshakes at once")
        self._connecting += 1
        try:
            try:
                opened = await self._open_pair(request, target, source)
            finally:
                self._admission.end()
            if isinstance(opened, web.StreamResponse):
                return opened
            link, charger, offline = opened
            await self._run_pair(link, offline)
            return charger
        finally:
            self._connecting -= 1

    async def _open_pair(
        self, request: web.BaseRequest, target: ChargerPath, source: str
    ) -> tuple[Link, web.WebSocketResponse, bool] | web.StreamResponse:
        """The charger's pair, ready to run (and whether its CSMS is unreachable), or the
        answer that refuses the charger."""
        task = asyncio.current_task()
        assert task is not None
        self._handshakes.add(task)
        try:
            return await self._open_checked_pair(request, target, source)
        finally:
            self._handshakes.discard(task)

    async def _open_checked_pair(
        self, request: web.BaseRequest, target: ChargerPath, source: str
    ) -> tuple[Link, web.WebSocketResponse, bool] | web.StreamResponse:
        identity = target.identity
        refusal = self._check_identity(request, identity, source)
        if refusal is not None:
            return refusal
        limit = self.settings.max_chargers
        # Handlers run for a connection's whole life: those running are the chargers connected
        # or connecting. One that replaces its own earlier connection is let through.
        if identity not in self._links and limit is not None and self._connecting > limit:
            self.metrics.connections_refused.inc()
            return self._refuse(
                source, identity, "max_chargers", 503, f"{limit} chargers are connected"
            )
        offered = [
            protocol.strip()
            for protocol in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if protocol.strip()
        ]
        headers = dict(request.headers)
        dialled = await self._dial(identity, target.path, offered, headers, source)
        if isinstance(dialled, web.StreamResponse):
            return dialled
        csms, protocol = dialled
        handed_over = False
        try:
            async with self._claims.hold(identity):
                if self._stopping:
                    return self._refuse(source, identity, "stopping", 503, "the LC is stopping")
                charger = TappedWebSocketResponse(
                    protocols=(protocol,) if protocol else (),
                    heartbeat=self.settings.ping_interval_s,
                    compress=True,  # accept RFC 7692 permessage-deflate when offered
                    max_msg_size=self._hard_frame_limit,
                    autoping=False,  # its pings are answered by the link, within its frame budget
                )
                try:
                    await charger.prepare(request)
                except ConnectionError:
                    log.info("%s: the charger left during its handshake", identity)
                    return charger
                version = OcppVersion.from_subprotocol(protocol)
                if version is None:
                    # No common OCPP subprotocol: the CSMS completed the handshake without one
                    # and will close (Part 4 §3.2); the charger sees the same.
                    await charger.close()
                    return charger
                previous = self._links.get(identity)
                if previous is not None:
                    log.info("%s: new connection replaces the current one", identity)
                    previous.close(reason="replaced by a new connection")
                    await previous.finished.wait()
                link = await self._link(
                    identity, version, charger, csms, target.path, offered, headers
                )
                link.watch_frames(request.transport)
                self._links[identity] = link
                # The charger's own link delivers its backlog from now on.
                await self._unattended.stand_down(identity)
                handed_over = True
        finally:
            if csms is not None and not handed_over:
                await csms.close()
        if csms is not None and self.journal is not None and protocol:
            # Hashed only now: the CSMS accepted these credentials and the charger is here.
            self._background.spawn(
                self.journal.remember_credentials(
                    identity, headers.get("Authorization"), protocol, keep=frozenset(self._links)
                ),
                "remember-credentials",
            )
        return link, charger, csms is None

    async def _dial(
        self,
        identity: str,
        path: str,
        offered: list[str],
        headers: dict[str, str],
        source: str,
    ) -> tuple[ClientWebSocketResponse | None, str] | web.StreamResponse:
        """The CSMS link (None: admitted while the CSMS is unreachable) and the subprotocol it
        chose, or the charger's refusal."""
        try:
            async with asyncio.timeout(self.settings.handshake_timeout_s):
                await self._dial_slots.acquire()
        except TimeoutError:
            return self._refuse(source, identity, "csms_dials", 503, "too many CSMS dials")
        try:
            csms = await self._dialer.dial(path, offered, headers)
            return csms, csms.protocol or ""
        except UpstreamRefused as refusal:
            self.metrics.upstream_connect_failures.labels(refusal.reason).inc()
            if refusal.reason in CREDENTIALS_REFUSED:
                info = f"the CSMS refused {identity}'s credentials ({refusal.reason})"
                self._publish(ev.SecurityEventRaised(identity, "FailedToAuthenticateAtCsms", info))
            self._log_refusal(source, f"{identity}: {refusal}", logging.INFO)
            authorization = headers.get("Authorization")
            admitted = await self._admit_offline(identity, authorization, offered, refusal)
            if admitted is None:
                response = web.Response(status=refusal.status, headers=refusal.headers)
                response.force_close()
                return response
            return None, admitted
        finally:
            self._dial_slots.release()

    async def _dial_in_turn(
        self, path: str, offered: list[str], headers: dict[str, str]
    ) -> ClientWebSocketResponse:
        """Dial the CSMS again for a charger (its link's redial, a replay without it), at most
        max_csms_dials at once: after an outage every charger redials at the same moment."""
        async with self._dial_slots:
            return await self._dialer.dial(path, offered, headers)

    async def _run_pair(self, link: Link, offline: bool) -> None:
        identity = link.identity
        self.metrics.connections.inc()
        gauge = self.metrics.chargers_connected.labels(link.version.value)
        gauge.inc()
        try:
            if offline:
                await link.start_offline()
            reason = await link.run()
            log.info("%s: disconnected (%s)", identity, reason)
        finally:
            gauge.dec()
            if self._links.get(identity) is link:
                del self._links[identity]

    def _check_identity(
        self, request: web.BaseRequest, identity: str, source: str
    ) -> web.Response | None:
        """The refusal for a charger that is not who its URL says, or None to let it on.

        Checked before anything else: a refused charger must not replace the link of the
        charger it claims to be, nor reach the CSMS with that charger's identity.
        """
        allowed = self.settings.allowed_identities
        if allowed is not None and identity not in allowed:
            return self._refuse(source, identity, "not_allowed", 404, "not in allowed_identities")
        user = basic_auth_user(request.headers.get("Authorization"))
        if user is not None and user != identity:
            # A00.FR.303. RFC 9110 asks a 401 to say which scheme to use.
            return self._refuse(
                source,
                identity,
                "basic_auth_user",
                401,
                "the Basic-auth user is not the charger's identity",
                {"WWW-Authenticate": 'Basic realm="OCPP"'},
            )
        server_ssl = self.settings.server_ssl
        if server_ssl is not None and server_ssl.verify_mode == ssl.CERT_REQUIRED:
            # Both asyncio's and uvloop's TLS transports give the verified peer certificate.
            peercert = request.get_extra_info("peercert")
            names = common_names(peercert)
            if names != [identity]:
                return self._refuse(
                    source,
                    identity,
                    "certificate_cn",
                    403,
                    f"its certificate's CN is {', '.join(names) or 'missing'}",
                )
            operator = self.settings.charger_organization
            organizations = subject_attributes(peercert, "organizationName")
            if operator is not None and not any(operator in name for name in organizations):
                # A00.FR.404: the certificate is owned by the CSO (its O names the CSO).
                return self._refuse(
                    source,
                    identity,
                    "certificate_o",
                    403,
                    f"its certificate's O is {', '.join(organizations) or 'missing'}",
                )
        return None

    def _refuse(
        self,
        source: str,
        identity: str | None,
        reason: str,
        status: int,
        why: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """Count and log (one line per source a minute) a refused handshake, and answer it.

        The connection is closed after the answer: a refused client gets no idle socket."""
        self._note_refusal(source, reason, f"{identity or '?'}: refused with HTTP {status}: {why}")
        response = web.Response(status=status, text=f"refused: {why}\n", headers=headers)
        response.force_close()
        return response

    def _refuse_connection(self, source: str, reason: str) -> None:
        self._note_refusal(source, reason, f"connection closed before its handshake: {reason}")

    def _note_refusal(self, source: str, reason: str, line: str) -> None:
        self.metrics.charger_refusals.labels(reason).inc()
        self._log_refusal(source, line, logging.WARNING)

    def _log_refusal(self, source: str, line: str, level: int) -> None:
        """Log at most one refusal per source address (IPv6: per /64) a minute, saying how many
        were not."""
        held_back = self._refusal_log.allow(rate_key(source), asyncio.get_running_loop().time())
        if held_back is not None:
            more = f" ({held_back} more refused from there in the last minute)" if held_back else ""
            log.log(level, "%s (from %s)%s", line, source, more)


async def _open_journal(path: Path, limits: JournalLimits) -> Journal:
    try:
        return await Journal.open(path, limits)
    except (OSError, sqlite3.Error, JournalError) as exc:
        raise StartError("router.offline.journal_path", f"cannot open {path}: {exc}") from exc


def basic_auth_user(authorization: str | None) -> str | None:
    """The user of an `Authorization: Basic` header (RFC 7617), "" when it cannot be read, or
    None without one. Only the user is decoded: 1.6 passwords need not be UTF-8."""
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, _ = base64.b64decode(credentials.strip(), validate=True).partition(b":")
        return user.decode("utf-8") if colon else ""
    except ValueError:  # not base64 (binascii.Error), or a user that is not UTF-8
        return ""


def subject_attributes(peercert: dict[str, Any] | None, attribute: str) -> list[str]:
    """The values of one attribute (commonName, organizationName) in the subject of a
    certificate as `SSLSocket.getpeercert()` gives it."""
    subject = (peercert or {}).get("subject", ())
    return [value for rdn in subject for name, value in rdn if name == attribute]


def common_names(peercert: dict[str, Any] | None) -> list[str]:
    return subject_attributes(peercert, "commonName")
