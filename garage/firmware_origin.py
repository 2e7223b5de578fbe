"""The manufacturer's download server, on 127.0.0.1: one firmware file, which the simulated
CSMS asks the LC to publish (L03) before rolling it out to the chargers."""

from __future__ import annotations

import hashlib
from types import TracebackType

from aiohttp import web


class FirmwareOrigin:
    def __init__(self, name: str, content: bytes) -> None:
        self.name = name
        self.content = content
        self.md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
        self.url = ""  # set once started
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FirmwareOrigin:
        app = web.Application()
        app.router.add_get(f"/{self.name}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/{self.name}"
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _file(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.content, content_type="application/octet-stream")
