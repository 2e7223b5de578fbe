"""The charger port's HTTP server, which admits TCP connections before any HTTP is read.

aiohttp waits for a request as long as a client keeps its socket open and reads headers as
slowly as they come. On a site network that lets one device hold thousands of sockets (each
with its buffers) without ever sending a handshake. Here every socket, upgraded or not, counts
against `max_connections` (one beyond is closed at once), and a socket must have delivered its
whole upgrade request within `handshake_timeout_s` of being accepted. Under TLS the TLS
handshake must also be done within `handshake_timeout_s` (asyncio's default is 60 s); the
socket counts against `max_connections` from then on.

asyncio (and uvloop) drop a connection whose TLS handshake fails or times out without telling
the server, so such a socket is noticed by its absence: a handler made for an accepted socket
that is not given its connection by the handshake deadline is counted as `tls_handshake`.
Its source address is not known then (the loop keeps it to itself until TLS is done).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

# Called with the peer address and the refusal reason.
RefusalSink = Callable[[str, str], None]

# After the handshake deadline, how long before a TLS handshake that did not finish is counted:
# the loop aborts it at the deadline, a moment after the handler was made.
TLS_COUNT_GRACE_S = 1.0


class ChargerConnections(web.Server):
    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Any],
        *,
        max_connections: int | None,
        handshake_timeout_s: float,
        on_refused: RefusalSink,
        tls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._max_connections = max_connections
        self._handshake_timeout_s = handshake_timeout_s
        self._on_refused = on_refused
        self._tls = tls
        # Every open socket; the timer that closes it while its request is not read yet.
        self._open: dict[RequestHandler, asyncio.TimerHandle | None] = {}
        # Handlers of sockets whose TLS handshake runs; the timer that counts it as unfinished.
        self._securing: dict[RequestHandler, asyncio.TimerHandle] = {}

    def __call__(self) -> RequestHandler:
        """A handler for a socket just accepted; under TLS, before its handshake."""
        handler = super().__call__()
        if self._tls:
            self._securing[handler] = asyncio.get_running_loop().call_later(
                self._handshake_timeout_s + TLS_COUNT_GRACE_S, self._tls_unfinished, handler
            )
        return handler

    def _tls_unfinished(self, handler: RequestHandler) -> None:
        del self._securing[handler]
        self._on_refused("unknown", "tls_handshake")

    async def shutdown(self, *args: Any) -> None:
        # The listener is closed: a handshake cut by the stop is no refusal.
        for timer in self._securing.values():
            timer.cancel()
        self._securing.clear()
        await super().shutdown(*args)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        secured = self._securing.pop(handler, None)
        if secured is not None:
            secured.cancel()
        super().connection_made(handler, transport)
        limit = self._max_connections
        if limit is not None and len(self._open) >= limit:
            self._on_refused(_peer(transport), "max_connections")
            transport.abort()
            return
        self._open[handler] = asyncio.get_running_loop().call_later(
            self._handshake_timeout_s, self._expire, handler, transport
        )

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        timer = self._open.pop(handler, None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(handler, exc)

    def request_read(self, handler: RequestHandler) -> None:
        """The socket delivered its request in time: stop its handshake clock."""
        timer = self._open.get(handler)
        if timer is not None:
            timer.cancel()
            self._open[handler] = None

    def _expire(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        self._open[handler] = None
        self._on_refused(_peer(transport), "handshake_timeout")
        transport.abort()


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


class ChargerSite(web.BaseSite):
    """aiohttp's TCPSite, with the TLS handshake bounded by the handshake timeout."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        handshake_timeout_s: float,
        backlog: int,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self._handshake_timeout_s = handshake_timeout_s

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        tls = self._ssl_context
        self._server = await asyncio.get_running_loop().create_server(
            server,
            self._host,
            self._port,
            ssl=tls,
            ssl_handshake_timeout=self._handshake_timeout_s if tls is not None else None,
            backlog=self._backlog,
        )
