"""The frame tap (router/frame_tap.py): text frames handed over from aiohttp's parser, everything
else read the usual way, over real sockets on 127.0.0.1 with independent peers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
from collections.abc import AsyncIterator, Callable
from importlib import metadata
from pathlib import Path

import aiohttp
import pytest
import websockets
from aiohttp import WSMsgType, web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.client_proto import ResponseHandler
from aiohttp.test_utils import TestServer
from aiohttp.web_protocol import RequestHandler

from router.frame_tap import (
    FrameTap,
    TappedClientWebSocketResponse,
    TappedWebSocketResponse,
    tap_of,
)
from tests.peers import wait_until
from tests.raw_ws import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, frame

pytestmark = pytest.mark.timeout(60)

Record = list[tuple[str, object]]


def _taking(into: list[str], declined: str | None = None) -> Callable[[str], bool]:
    """A `take` that keeps what it is handed, declining the text `declined`."""

    def take(text: str) -> bool:
        into.append(text)
        return text != declined

    return take


def _recording(record: Record, declined: str | None = None) -> Callable[[str], bool]:
    """A `take` that records what it is handed beside what receive() returns."""

    def take(text: str) -> bool:
        record.append(("take", text))
        return text != declined

    return take


def test_the_aiohttp_internals_the_tap_stands_on_are_there() -> None:
    """Fails loudly when an aiohttp upgrade moves what the tap replaces or calls."""
    pinned = re.search(r'"aiohttp==([^"]+)"', Path("pyproject.toml").read_text())
    assert pinned is not None and metadata.version("aiohttp") == pinned[1]
    from aiohttp import client, web_ws

    # The queue class both sides build, which the tap subclasses.
    queue_class = vars(web_ws)["WebSocketDataQueue"]
    assert vars(client)["WebSocketDataQueue"] is queue_class
    assert FrameTap.__mro__[1] is queue_class
    # What the tap replaces or calls on the sockets and their protocols.
    assert callable(web.WebSocketResponse._post_start)
    assert callable(RequestHandler.set_parser) and callable(ResponseHandler.set_parser)
    for attribute in ("_message_tail", "_payload_parser"):
        assert attribute in RequestHandler.__slots__ or hasattr(RequestHandler, attribute)
    # The heartbeat's timers, which the tapped sockets set from reads without a reset.
    for socket_class in (web.WebSocketResponse, aiohttp.ClientWebSocketResponse):
        assert callable(socket_class._send_heartbeat)
        assert callable(socket_class._pong_not_received)
        assert "_heartbeat_when" in socket_class._send_heartbeat.__code__.co_names


async def test_the_parser_hands_text_frames_to_take_and_queues_the_rest() -> None:
    from aiohttp._websocket.reader import WebSocketReader

    tap = FrameTap(BaseProtocol(asyncio.get_running_loop()), 2**16, loop=asyncio.get_running_loop())
    parser = WebSocketReader(tap, 2**20, compress=False, decode_text=True)
    taken: list[str] = []
    tap.take = _taking(taken, declined="declined")
    parser.feed_data(frame(TEXT, b"one", mask=None) + frame(PING, b"p", mask=None))
    parser.feed_data(frame(TEXT, b"two", mask=None))  # behind the queued ping: queued
    assert taken == ["one"]
    assert [(await tap.read()).data for _ in range(2)] == [b"p", "two"]
    parser.feed_data(frame(TEXT, b"declined", mask=None) + frame(TEXT, b"three", mask=None))
    assert taken == ["one", "declined"]  # and "three" waits behind it, in order
    assert [(await tap.read()).data for _ in range(2)] == ["declined", "three"]


@contextlib.asynccontextmanager
async def _tapped_server(
    record: Record, take: Callable[[str], bool]
) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A server on 127.0.0.1 reading each connection through a tap: text frames go to `take`
    while it waits in receive(); what receive() returns is recorded."""
    done = asyncio.Event()

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = TappedWebSocketResponse(autoping=False, compress=True)
        await ws.prepare(request)
        tap = tap_of(ws)
        assert tap is not None
        while True:
            tap.take = take
            message = await ws.receive()
            tap.take = None
            record.append(
                ("receive", message.data if message.type is not WSMsgType.CLOSE else CLOSE)
            )
            if message.type is WSMsgType.PING:
                await ws.pong(message.data)
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
        done.set()
        return ws

    app = web.Application()
    app.router.add_get("/", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        assert server.port is not None
        yield server.port, done


async def test_a_charger_socket_hands_over_text_and_keeps_control_frames_and_the_close() -> None:
    record: Record = []
    async with _tapped_server(record, _recording(record, declined="declined")) as (port, done):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        handshake = (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        # A frame in the same write as the handshake: parsed by the tap's parser, read first.
        writer.write(handshake + frame(TEXT, b"early"))
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        await wait_until(lambda: len(record) == 1, what="the early frame")

        async def send(data: bytes, entries: int) -> None:
            writer.write(data)
            await writer.drain()
            await wait_until(lambda: len(record) == entries, what=f"{entries} entries")

        # Fragmented, with a ping between its fragments.
        await send(frame(TEXT, b"frag", fin=False), 1)
        await send(frame(PING, b"p1"), 2)
        assert await reader.readexactly(4) == bytes([0x80 | PONG, 2]) + b"p1"
        await send(frame(CONTINUATION, b"mented"), 3)
        await send(frame(BINARY, b"\x00"), 4)
        await send(frame(TEXT, b"declined"), 6)
        await send(frame(TEXT, b"after"), 7)
        writer.write(frame(CLOSE, b"\x03\xe8"))
        await writer.drain()
        assert (await reader.readexactly(2))[0] == 0x80 | CLOSE  # the close handshake
        await asyncio.wait_for(done.wait(), 10)
        writer.close()
    assert record == [
        ("receive", "early"),
        ("receive", b"p1"),
        ("take", "fragmented"),
        ("receive", b"\x00"),
        ("take", "declined"),
        ("receive", "declined"),
        ("take", "after"),
        ("receive", CLOSE),
    ]


async def test_compressed_frames_from_an_independent_client_are_handed_over() -> None:
    record: Record = []
    async with _tapped_server(record, _recording(record)) as (port, done):
        async with websockets.connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            assert ws.protocol.extensions, "permessage-deflate was not negotiated"
            for n in range(3):
                await ws.send(f"compressed {n} " + "x" * 2000)
            await wait_until(lambda: len(record) == 3, what="three frames")
        await asyncio.wait_for(done.wait(), 10)
    assert record == [("take", f"compressed {n} " + "x" * 2000) for n in range(3)] + [
        ("receive", CLOSE)
    ]


async def test_a_csms_link_reads_what_came_with_the_handshake_then_hands_frames_over() -> None:
    sent_back: list[bytes] = []
    proceed = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", head, re.IGNORECASE)
        assert key is not None
        accept = base64.b64encode(
            hashlib.sha1(key[1] + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        # The 101 and a first frame in one write, as a CSMS may send them.
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + frame(TEXT, b"early", mask=None)
        )
        await proceed.wait()
        writer.write(frame(TEXT, b"later", mask=None) + frame(PING, b"p2", mask=None))
        first, second = await reader.readexactly(2)
        mask, masked = await reader.readexactly(4), await reader.readexactly(second & 0x7F)
        sent_back.append(
            bytes([first & 0xF]) + bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
        )
        writer.write(frame(CLOSE, b"\x03\xe8", mask=None))
        await reader.read()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    taken: list[str] = []
    try:
        async with (
            aiohttp.ClientSession(ws_response_class=TappedClientWebSocketResponse) as session,
            session.ws_connect(f"ws://127.0.0.1:{port}/") as ws,
        ):
            assert isinstance(ws, TappedClientWebSocketResponse)
            ws.start_tap(2**20)
            tap = tap_of(ws)
            assert tap is not None
            assert (await ws.receive()).data == "early"
            tap.take = _taking(taken)
            proceed.set()
            closing = await ws.receive()  # the ping is answered inside receive(), as usual
            assert closing.type is WSMsgType.CLOSE
    finally:
        server.close()
        await server.wait_closed()
    assert taken == ["later"]
    assert sent_back == [bytes([PONG]) + b"p2"]
