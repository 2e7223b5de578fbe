"""A charger's handshake, from its upgrade request to its running pair of links.

Handshake (Part 4 §6.2): the CSMS is dialled first with the charger's path, subprotocols and
Authorization header; the charger is accepted only if the CSMS accepted, with the subprotocol
the CSMS chose, and otherwise gets the CSMS's refusal (401, 404, ...) or 502/504 when the CSMS
cannot be reached (under `hold`, a charger the CSMS accepted before is admitted anyway).

Before that, the LC admits the handshake at all (router/admission.py: a rate per source
address, a bound on handshakes in progress), reads its path without normalising it
(router/charger_path.py) and checks who the charger is (router/charger_identity.py). A charger
that fails gets no CSMS connection.

A charger that connects again replaces its earlier pair only once the CSMS accepted the new
connection and the charger is upgraded: a refused or failed handshake leaves the connected
charger alone. Pairs of one identity are claimed one after the other, so one pair per
identity runs, the one accepted last.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.client_ws import ClientWebSocketResponse

from router.admission import HandshakeAdmission
from router.charger_identity import identity_refusal
from router.charger_path import BadChargerPath, ChargerPath, parse_charger_path
from router.csms_dials import CsmsDials
from router.frames import OcppVersion
from router.handshake_refusals import HandshakeRefusals
from router.hold_policy import HoldPolicy
from router.keyed_lock import KeyedLock
from router.link import Link
from router.link_builder import LinkBuilder
from router.link_registry import LinkRegistry
from router.metrics import RouterMetrics
from router.settings import RouterSettings
from router.upstream import UpstreamRefused

log = logging.getLogger(__name__)

# The charger's pair ready to run, and whether its CSMS is unreachable.
_Pair = tuple[Link, web.WebSocketResponse, bool]


class ChargerHandshakes:
    def __init__(
        self,
        settings: RouterSettings,
        metrics: RouterMetrics,
        links: LinkRegistry,
        dials: CsmsDials,
        refusals: HandshakeRefusals,
        hold: HoldPolicy | None,
        builder: LinkBuilder,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._links = links
        self._dials = dials
        self._refusals = refusals
        self._hold = hold
        self._builder = builder
        self._admission = HandshakeAdmission(settings.admission)
        self._connecting = 0  # charger handlers running: connected or being connected
        self._claims = KeyedLock()  # one pair per identity: claimed one after the other
        self._opening: set[asyncio.Task[Any]] = set()  # being opened, not running yet
        self._stopping = False

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Serve one charger's upgrade request, for the whole life of its connection."""
        source = request.remote or "unknown"
        refuse = self._refusals.refuse
        try:
            # The request target as sent: request.path would be normalised already.
            target = parse_charger_path(request.raw_path)
        except BadChargerPath as bad:
            return refuse(source, None, bad.reason, 400, str(bad))
        identity = target.identity
        if request.method != "GET" or request.headers.get("Upgrade", "").lower() != "websocket":
            return refuse(source, identity, "not_websocket", 400, "expected a WebSocket upgrade")
        refused = self._admission.begin(source, asyncio.get_running_loop().time())
        if refused == "source_rate":
            return refuse(source, identity, refused, 429, "too many handshakes from there")
        if refused is not None:
            return refuse(source, identity, refused, 503, "too many handshakes at once")
        self._connecting += 1
        try:
            try:
                opened = await self._open_pair(request, target, source)
            finally:
                self._admission.end()
            if isinstance(opened, web.StreamResponse):
                return opened
            link, charger, offline = opened
            await self._links.run(link, offline)
            return charger
        finally:
            self._connecting -= 1

    async def stop(self) -> None:
        """Handshakes under way end here (and close their CSMS links) rather than add a pair."""
        self._stopping = True
        for task in self._opening:
            task.cancel()
        await asyncio.gather(*self._opening, return_exceptions=True)

    async def _open_pair(
        self, request: web.BaseRequest, target: ChargerPath, source: str
    ) -> _Pair | web.StreamResponse:
        """The charger's pair, ready to run, or the answer that refuses the charger."""
        task = asyncio.current_task()
        assert task is not None
        self._opening.add(task)
        try:
            return await self._open_checked_pair(request, target, source)
        finally:
            self._opening.discard(task)

    async def _open_checked_pair(
        self, request: web.BaseRequest, target: ChargerPath, source: str
    ) -> _Pair | web.StreamResponse:
        identity = target.identity
        headers = dict(request.headers)
        refusal = identity_refusal(
            self._settings,
            identity,
            headers.get("Authorization"),
            # Both asyncio's and uvloop's TLS transports give the verified peer certificate.
            request.get_extra_info("peercert"),
        )
        if refusal is not None:
            return self._refusals.refuse(
                source, identity, refusal.reason, refusal.status, refusal.why, refusal.headers
            )
        limit = self._settings.max_chargers
        # Handlers run for a connection's whole life: those running are the chargers connected
        # or connecting. One that replaces its own earlier connection is let through.
        if identity not in self._links and limit is not None and self._connecting > limit:
            self._metrics.connections_refused.inc()
            return self._refusals.refuse(
                source, identity, "max_chargers", 503, f"{limit} chargers are connected"
            )
        offered = [
            protocol.strip()
            for protocol in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if protocol.strip()
        ]
        dialled = await self._dial(identity, target.path, offered, headers, source)
        if isinstance(dialled, web.StreamResponse):
            return dialled
        csms, protocol = dialled
        handed_over = False
        try:
            async with self._claims.hold(identity):
                if self._stopping:
                    return self._refusals.refuse(
                        source, identity, "stopping", 503, "the LC is stopping"
                    )
                charger = web.WebSocketResponse(
                    protocols=(protocol,) if protocol else (),
                    heartbeat=self._settings.ping_interval_s,
                    compress=True,  # accept RFC 7692 permessage-deflate when offered
                    max_msg_size=self._settings.hard_frame_limit,
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
                await self._links.close_previous(identity)
                link = await self._builder.build(
                    identity, version, charger, csms, target.path, offered, headers
                )
                link.watch_frames(request.transport)
                self._links.add(link)
                if self._hold is not None:
                    # The charger's own link delivers its backlog from now on.
                    await self._hold.unattended.stand_down(identity)
                handed_over = True
        finally:
            if csms is not None and not handed_over:
                await csms.close()
        if csms is not None and self._hold is not None and protocol:
            # Hashed only now: the CSMS accepted these credentials and the charger is here.
            self._hold.remember_credentials(
                identity, headers.get("Authorization"), protocol, self._links.identities()
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
        dialled = await self._dials.dial(identity, path, offered, headers)
        if dialled is None:
            return self._refusals.refuse(source, identity, "csms_dials", 503, "too many CSMS dials")
        if not isinstance(dialled, UpstreamRefused):
            return dialled, dialled.protocol or ""
        self._refusals.log(source, f"{identity}: {dialled}", logging.INFO)
        admitted = None
        if self._hold is not None:
            authorization = headers.get("Authorization")
            admitted = await self._hold.admit_offline(identity, authorization, offered, dialled)
        if admitted is None:
            response = web.Response(status=dialled.status, headers=dialled.headers)
            response.force_close()
            return response
        return None, admitted
