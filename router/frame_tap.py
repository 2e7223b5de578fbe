"""Hand a WebSocket's text frames to the relay as aiohttp parses them: no await per frame.

aiohttp parses frames inside the connection's protocol and puts whole messages on a queue
that `receive()` reads: a future, a task wake-up and a coroutine per frame. A `FrameTap` is
that queue, but while its reader waits in `receive()` with nothing queued, it offers each text
frame to the reader's `take` callback first, synchronously, from the parser. A frame `take`
declines is queued as usual, and so is every other message (control and binary frames,
errors, the end of the stream) and any frame behind a queued one (their order): `receive()`
keeps all of aiohttp's own handling of them (close handshake, pings, pausing the socket when
the queue is full).

The tap replaces the queue (and the parser writing to it) right after the handshake, before
the parser has seen a byte: bytes that came with the handshake are held back until then.
The tapped sockets also keep aiohttp's ping heartbeat (`heartbeat=`: ping after that long
without a byte from the peer, give up on it when nothing comes within half of it), but
without its cost per read: aiohttp resets the heartbeat on every read through a callback it
schedules, one more event-loop handle per frame. Here a read only notes when the peer must be
pinged; the heartbeat timer, when it fires, moves itself to that time (aiohttp's own check),
and the pong timer, when it fires, lets the peer live if anything came since the ping.

This stands on aiohttp internals (the queue and parser classes, the protocols' `set_parser`
and early-data buffers, the heartbeat's timers); aiohttp's version is pinned in
pyproject.toml, and tests/router/test_frame_tap.py fails loudly when the internals change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp._websocket.models import WSMessage
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_ws import ClientWebSocketResponse
from aiohttp.helpers import DEFAULT_CHUNK_SIZE
from aiohttp.http_websocket import WebSocketWriter, WSMessageTextBytes
from aiohttp.web_request import BaseRequest

# Takes a text frame synchronously; False when its reader must handle it (and all frames
# after it) the usual way, from `receive()`.
TextTaker = Callable[[str], bool]


class FrameTap(WebSocketDataQueue):
    """aiohttp's message queue for one WebSocket, offering text frames to `take` first."""

    take: TextTaker | None = None  # set by the reader only while it waits in `receive()`

    def feed_data(self, data: WSMessage | WSMessageTextBytes, size: int) -> None:
        take = self.take
        if take is None or data[0] is not WSMsgType.TEXT or self._buffer or not take(data[1]):
            super().feed_data(data, size)


def tap_of(socket: web.WebSocketResponse | ClientWebSocketResponse) -> FrameTap | None:
    """The socket's tap; None for a socket opened without one (it is read the usual way)."""
    reader = socket._reader
    return reader if isinstance(reader, FrameTap) else None


def _tapped_parser(
    protocol: Any, loop: asyncio.AbstractEventLoop, max_msg_size: int, compress: bool
) -> tuple[FrameTap, WebSocketReader]:
    tap = FrameTap(protocol, DEFAULT_CHUNK_SIZE, loop=loop)
    return tap, WebSocketReader(tap, max_msg_size, compress=compress, decode_text=True)


class TappedWebSocketResponse(web.WebSocketResponse):
    """A charger's WebSocket (the LC's server side) read through a `FrameTap`."""

    def _post_start(
        self, request: BaseRequest, protocol: str | None, writer: WebSocketWriter
    ) -> None:
        handler = request.protocol
        assert handler is not None
        early, handler._message_tail = handler._message_tail, b""
        super()._post_start(request, protocol, writer)  # its parser never sees a byte
        assert self._loop is not None
        self._reader, self._parser = _tapped_parser(
            request._protocol, self._loop, self._max_msg_size, bool(self._compress)
        )
        handler._payload_parser = None
        handler._message_tail = early  # parsed by the tap's parser from here
        on_data = None if self._heartbeat is None else self._heard_from_peer
        handler.set_parser(self._parser, data_received_cb=on_data)

    def _heard_from_peer(self) -> None:
        assert self._loop is not None and self._heartbeat is not None
        self._heartbeat_when = self._loop.time() + self._heartbeat

    def _pong_not_received(self) -> None:
        assert self._loop is not None
        if not _heard_since_ping(self, self._loop):
            super()._pong_not_received()


class TappedClientWebSocketResponse(ClientWebSocketResponse):
    """A CSMS link (the LC's client side) that `start_tap` switches to a `FrameTap`.

    aiohttp builds the client's parser after this object; bytes that came with the handshake
    wait here until `start_tap`, which must run before the event loop turns again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        handler = self._handler()
        self._early, handler._tail = handler._tail, b""

    def _handler(self) -> ResponseHandler:
        assert self._conn is not None and self._conn.protocol is not None
        return self._conn.protocol

    def start_tap(self, max_msg_size: int) -> None:
        handler = self._handler()
        self._reader, self._parser = _tapped_parser(
            handler, self._loop, max_msg_size, bool(self._compress)
        )
        handler._tail, self._early = self._early, b""  # parsed by the tap's parser from here
        on_data = None if self._heartbeat is None else self._heard_from_peer
        handler.set_parser(self._parser, self._reader, data_received_cb=on_data)

    def _heard_from_peer(self) -> None:
        assert self._heartbeat is not None
        self._heartbeat_when = self._loop.time() + self._heartbeat

    def _pong_not_received(self) -> None:
        if not _heard_since_ping(self, self._loop):
            super()._pong_not_received()


def _heard_since_ping(
    socket: web.WebSocketResponse | ClientWebSocketResponse, loop: asyncio.AbstractEventLoop
) -> bool:
    """Whether the peer sent anything since the heartbeat's ping (then it lives, and the
    heartbeat is set again: reads do not set it). The ping went out once the heartbeat's
    time had come, so a time still ahead was noted by a read after it."""
    if loop.time() >= socket._heartbeat_when:
        return False
    socket._pong_response_cb = None
    socket._heartbeat_cb = loop.call_at(socket._heartbeat_when, socket._send_heartbeat)
    return True
