"""Tell when bytes arrive on a connection, before its protocol parses them.

aiohttp's WebSocket reader parses frames inside the connection's protocol and hands over only
whole messages, so a frame that is still arriving cannot be seen from the messages alone. This
wrapper sits between the transport and aiohttp's protocol (asyncio's `set_protocol`), calls
`on_bytes` for every read and passes everything on unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class ArrivalWatch(asyncio.Protocol):
    def __init__(self, inner: asyncio.BaseProtocol, on_bytes: Callable[[], None]) -> None:
        assert isinstance(inner, asyncio.Protocol), "aiohttp's server protocol is not buffered"
        self._inner = inner
        self._on_bytes = on_bytes

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._on_bytes()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def watch_arrivals(transport: asyncio.BaseTransport, on_bytes: Callable[[], None]) -> None:
    """Call `on_bytes` whenever `transport` reads bytes, from now on."""
    transport.set_protocol(ArrivalWatch(transport.get_protocol(), on_bytes))
