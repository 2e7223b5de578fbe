"""Dialling the CSMS for one charger, and turning a refusal into the charger's handshake answer.

The dial is lean (a storm of chargers pays it once each): a socket to the CSMS's address,
the upgrade request in one write (router/csms_upgrade.py), aiohttp's HTTP parser for the
answer, and aiohttp's WebSocket (reader, writer, heartbeat, close handshake) from there on.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import cast

import aiohappyeyeballs
import aiohttp
from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_ws import DEFAULT_WS_CLIENT_TIMEOUT
from aiohttp.helpers import DEFAULT_CHUNK_SIZE
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_websocket import WebSocketWriter
from aiohttp.streams import EofStream
from yarl import URL

from ocpp_knowledge.security_events import RecordSecurityEvent
from router.csms_addresses import CsmsAddresses
from router.csms_upgrade import Accepted, Upgrade, UpgradeRefused, check_answer, upgrade_request
from router.frame_tap import TappedClientWebSocketResponse
from router.timer_rounding import NO_ROUNDING
from router.tls_failures import tls_security_event

# RFC 8305's connection attempt delay between the CSMS's addresses (aiohttp's default).
HAPPY_EYEBALLS_DELAY_S = 0.25

# Refusal reasons that mean "the CSMS is not there" rather than "the CSMS says no". A CSMS
# certificate that does not verify is its own reason (a security event, its own metric and
# alert) but treated like an outage: under `hold` chargers go on charging and journaling.
CSMS_CERTIFICATE = "csms_certificate"
OUTAGE_REASONS = ("unreachable", "timeout", CSMS_CERTIFICATE)
# Refusals that mean "the CSMS does not take these credentials" (A04: FailedToAuthenticateAtCsms).
CREDENTIALS_REFUSED = ("http_401", "http_403")


class UpstreamRefused(Exception):
    """The CSMS did not accept the connection; `status` is what the charger gets."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"CSMS refused: {reason} -> HTTP {status}")
        self.status = status
        self.reason = reason  # a short label for metrics: http_401, unreachable, timeout, ...
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    base_url: str
    connect_timeout_s: float = 10.0
    ping_interval_s: float | None = 30.0
    max_frame_bytes: int = 65536
    ssl_context: ssl.SSLContext | None = None  # the seam for security profiles 2 and 3


class UpstreamDialer:
    def __init__(
        self,
        settings: UpstreamSettings,
        csms_certificate_checked: Callable[[str | None], None] = lambda problem: None,
        record_security_event: RecordSecurityEvent = lambda event_type, tech_info: None,
    ) -> None:
        """`csms_certificate_checked` hears after every TLS handshake with the CSMS: None when
        its certificate verified, else why not. A CSMS that offers no TLS version or cipher
        suite of the spec's is a security event."""
        self._settings = settings
        self._csms_certificate_checked = csms_certificate_checked
        self._record_security_event = record_security_event
        base = URL(settings.base_url)
        self._tls = base.scheme in ("wss", "https")
        self._host = base.raw_host or ""
        self._addresses = CsmsAddresses(self._host, base.port or (443 if self._tls else 80))
        self._default_tls: ssl.SSLContext | None = None
        # Every connection dialled and not yet gone: closing the dialer closes them.
        self._connections: weakref.WeakSet[ResponseHandler] = weakref.WeakSet()

    def use_ssl_context(self, context: ssl.SSLContext) -> None:
        """New CSMS links use `context` (a renewed certificate of the LC, new CSMS roots);
        links already open keep the TLS session they have until they or the dialer close."""
        self._settings = replace(self._settings, ssl_context=context)

    def url_for(self, path: str) -> URL:
        """The CSMS URL for a charger's path, taken as sent: encoded=True keeps the URL
        library from resolving dot segments or decoding percent-escapes in it."""
        return URL(self._settings.base_url.rstrip("/") + path, encoded=True)

    async def dial(
        self, path: str, subprotocols: list[str], headers: dict[str, str]
    ) -> aiohttp.ClientWebSocketResponse:
        """Open the CSMS link for `path` offering the charger's subprotocols and headers."""
        settings = self._settings
        try:
            upgrade = upgrade_request(
                self.url_for(path), subprotocols, headers, _offers_deflate(headers)
            )
        except ValueError as exc:
            raise UpstreamRefused(400, "bad_header") from exc
        try:
            async with asyncio.timeout(settings.connect_timeout_s):
                handler = await self._connect()
                try:
                    accepted = await _upgrade(handler, upgrade)
                except BaseException:
                    handler.close()
                    raise
        except UpgradeRefused as exc:
            if self._tls:  # TLS held: the CSMS's certificate verified
                self._csms_certificate_checked(None)
            # A 101 answer that is not a valid WebSocket handshake is the CSMS's fault: 502.
            status = exc.status if exc.status >= 400 else 502
            raise UpstreamRefused(status, f"http_{exc.status}", exc.headers) from exc
        except ssl.SSLCertVerificationError as exc:
            self._csms_certificate_checked(str(exc))
            raise UpstreamRefused(502, CSMS_CERTIFICATE) from exc
        except ssl.SSLError as exc:
            self._tls_failed(exc)
            raise UpstreamRefused(502, "unreachable") from exc
        except TimeoutError as exc:
            raise UpstreamRefused(504, "timeout") from exc
        except (aiohttp.ClientError, HttpProcessingError, EofStream, OSError) as exc:
            raise UpstreamRefused(502, "unreachable") from exc
        if self._tls:
            self._csms_certificate_checked(None)
        return _open_websocket(handler, accepted, settings)

    async def _connect(self) -> ResponseHandler:
        """A connection to the CSMS (TLS done), its answer parsed by aiohttp's client
        protocol."""
        loop = asyncio.get_running_loop()
        context = self._tls_context() if self._tls else None
        hostname = self._host.rstrip(".") if context is not None else None
        addresses = await self._addresses.get()
        if len(addresses) == 1 and addresses[0][0] == socket.AF_INET:
            # The usual case: the event loop opens the socket, without Python's socket layer.
            ip, port = addresses[0][4][:2]
            _, handler = await loop.create_connection(
                lambda: ResponseHandler(loop), ip, port, ssl=context, server_hostname=hostname
            )
        else:
            sock = await aiohappyeyeballs.start_connection(
                addresses, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY_S
            )
            try:
                _, handler = await loop.create_connection(
                    lambda: ResponseHandler(loop), sock=sock, ssl=context, server_hostname=hostname
                )
            except BaseException:
                sock.close()
                raise
        self._connections.add(handler)
        return handler

    def _tls_context(self) -> ssl.SSLContext:
        context = self._settings.ssl_context
        if context is None:
            if self._default_tls is None:
                # The system's roots, as aiohttp's client verified them.
                self._default_tls = ssl.create_default_context()
                self._default_tls.set_alpn_protocols(("http/1.1",))
            context = self._default_tls
        return context

    def _tls_failed(self, error: ssl.SSLError) -> None:
        event = tls_security_event(error, "InvalidCsmsCertificate")
        if event is not None:
            self._record_security_event(event, f"TLS handshake with the CSMS: {error.reason}")

    async def close(self) -> None:
        """Close every CSMS connection still open, those of earlier TLS contexts too."""
        for handler in list(self._connections):
            handler.close()


async def _upgrade(handler: ResponseHandler, upgrade: Upgrade) -> Accepted:
    handler.set_response_params(read_until_eof=False)
    assert handler.transport is not None
    handler.transport.write(upgrade.request)
    answer, _ = await handler.read()
    return check_answer(upgrade, answer)


def _open_websocket(
    handler: ResponseHandler, accepted: Accepted, settings: UpstreamSettings
) -> TappedClientWebSocketResponse:
    """aiohttp's client WebSocket over the upgraded connection, as its ws_connect builds it."""
    transport = handler.transport
    assert transport is not None
    loop = asyncio.get_running_loop()
    writer = WebSocketWriter(
        handler,
        transport,
        use_mask=True,
        compress=accepted.compress,
        notakeover=accepted.notakeover,
    )
    csms = TappedClientWebSocketResponse(
        WebSocketDataQueue(handler, DEFAULT_CHUNK_SIZE, loop=loop),  # replaced by the tap
        writer,
        accepted.protocol,
        cast(aiohttp.ClientResponse, _UpgradedResponse(handler)),
        DEFAULT_WS_CLIENT_TIMEOUT,
        True,  # autoclose
        True,  # autoping
        loop,
        heartbeat=settings.ping_interval_s,
        compress=accepted.compress,
        client_notakeover=accepted.notakeover,
    )
    csms.start_tap(settings.max_frame_bytes)  # before the event loop turns
    return csms


# aiohttp's client WebSocket was made for ws_connect, which hands it a ClientResponse; the three
# classes below are the parts of one it uses. They stand on aiohttp internals (its version is
# pinned in pyproject.toml): tests/router/test_csms_dial.py fails loudly when they change.


class _Connector:
    # How aiohttp's client WebSocket rounds its heartbeat timers: not at all, so that pings go
    # at their own moments (router.timer_rounding).
    _timeout_ceil_threshold = NO_ROUNDING


class _Connection:
    """What aiohttp's client WebSocket uses of its connection: the protocol and the transport."""

    _connector = _Connector()

    def __init__(self, handler: ResponseHandler) -> None:
        self.protocol = handler

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.protocol.transport


class _UpgradedResponse:
    """What aiohttp's client WebSocket uses of the response that upgraded it: its connection,
    and `close()` when the WebSocket ends (closing the connection)."""

    def __init__(self, handler: ResponseHandler) -> None:
        self.connection = _Connection(handler)

    def close(self) -> None:
        self.connection.protocol.close()


def _offers_deflate(headers: dict[str, str]) -> bool:
    """Whether the charger's handshake offered RFC 7692 permessage-deflate: the LC offers it to
    the CSMS only then. A compressed link holds ~200 KiB of zlib state at each end, for all
    its life: a charger that does not compress would pay that on the LC for nothing."""
    return any(
        name.lower() == "sec-websocket-extensions" and "permessage-deflate" in value.lower()
        for name, value in headers.items()
    )
