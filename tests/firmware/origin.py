"""The server a CSMS points PublishFirmware at, on 127.0.0.1: a firmware file served whole or
in ranges, and the ways such a server lets a download down; the file and what the LC says
about publishing it."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from firmware.publication import FINAL, Notice
from firmware.publisher import FirmwarePublisher

# 1 MiB that is neither text nor repetitive, so a wrong byte anywhere changes the MD5.
FIRMWARE = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(32768))
MD5 = hashlib.md5(FIRMWARE, usedforsecurity=False).hexdigest()


async def notices_until_over(publisher: FirmwarePublisher) -> list[Notice]:
    """The notifications of one PublishFirmware request, up to its final one (bounded)."""
    notices: list[Notice] = []
    async with asyncio.timeout(30):
        while not notices or notices[-1]["status"] not in FINAL:
            notices.append(await publisher.notices.get())
    return notices


@dataclass
class Origin:
    base_url: str
    file: Path
    ranges: list[str | None] = field(default_factory=list)  # Range header of each request
    failures_left: int = 0  # /flaky.bin: this many more 503 answers
    # /broken.bin drops the link once this is set (after the first half is sent)
    drop_link: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def origin_server(file: Path) -> AsyncIterator[Origin]:
    """/fw.bin whole or in ranges, /flaky.bin after `failures_left` 503s, /broken.bin breaks
    off the first answer halfway (when `drop_link` is set), /unannounced.bin streams without
    a Content-Length."""
    origin = Origin("", file)
    body = await asyncio.to_thread(file.read_bytes)
    app = web.Application()

    async def whole(request: web.Request) -> web.StreamResponse:
        origin.ranges.append(request.headers.get("Range"))
        return web.FileResponse(file)

    async def flaky(request: web.Request) -> web.StreamResponse:
        if origin.failures_left > 0:
            origin.failures_left -= 1
            raise web.HTTPServiceUnavailable()
        return await whole(request)

    async def broken(request: web.Request) -> web.StreamResponse:
        if origin.ranges:
            return await whole(request)
        origin.ranges.append(request.headers.get("Range"))
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        await asyncio.wait_for(origin.drop_link.wait(), 30)
        assert request.transport is not None
        request.transport.close()  # the link drops halfway
        return response

    async def unannounced(_request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request=_request)
        for start in range(0, len(body), 65536):
            await response.write(body[start : start + 65536])
        await response.write_eof()
        return response

    for path, handler in [
        ("/fw.bin", whole),
        ("/flaky.bin", flaky),
        ("/broken.bin", broken),
        ("/unannounced.bin", unannounced),
    ]:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    origin.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield origin
    finally:
        await runner.cleanup()


async def stalled_download(
    host: str, port: int, path: str, source: str = "127.0.0.1"
) -> socket.socket:
    """A charger at `source` that asks for the file, reads its first bytes and stops
    reading (the file must be larger than what the kernel buffers between the two)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, port))
    await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    first = await asyncio.wait_for(loop.sock_recv(sock, 1024), 10)
    assert first.startswith(b"HTTP/1.1 200")
    return sock
