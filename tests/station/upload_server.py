"""A server on 127.0.0.1 that receives log files as the LC uploads them (multipart POST)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class UploadServer:
    """Receives log files; answers 500 to the first `failures` uploads; holds uploads while
    `hold` is set."""

    failures: int = 0
    hold: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)
    attempts: int = 0
    files: list[tuple[str, str]] = field(default_factory=list)  # (file name, content)
    url: str = ""

    async def receive(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.hold:
            await asyncio.wait_for(self.released.wait(), 30)
        if self.attempts <= self.failures:
            return web.Response(status=500)
        form = await request.post()
        upload = form["uploadfile"]
        assert isinstance(upload, web.FileField)
        self.files.append((upload.filename, upload.file.read().decode()))
        return web.Response(status=201)


@asynccontextmanager
async def upload_server() -> AsyncIterator[UploadServer]:
    server = UploadServer()
    app = web.Application()
    app.router.add_post("/logs", server.receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://uploader:secret@127.0.0.1:{runner.addresses[0][1]}/logs"
    try:
        yield server
    finally:
        server.released.set()
        await runner.cleanup()
