"""A WebSocket client at the byte level (RFC 6455), for tests that send what a library would
refuse to: any opcode, unmasked or fragmented frames, lengths that lie, pings by the thousand."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
from dataclasses import dataclass

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
CONTINUATION = 0x0


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = b"\x11\x22\x33\x44",
    declared_length: int | None = None,
) -> bytes:
    """One frame as a client sends it; `declared_length` may differ from the payload's."""
    length = len(payload) if declared_length is None else declared_length
    head = bytes([(0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode & 0xF])
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if mask is None:
        return head + payload
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + masked


@dataclass
class RawClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame from the server (servers do not mask);
        raises asyncio.IncompleteReadError once the server closed the connection."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0xF, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once, with whatever the LC has not read yet."""
        self.writer.transport.abort()


async def connect_raw(port: int, path: str, subprotocol: str = "ocpp2.0.1") -> RawClient:
    """A WebSocket handshake with the LC on 127.0.0.1, then the bare byte stream."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
    return RawClient(reader, writer)
