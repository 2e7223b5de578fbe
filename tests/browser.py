"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on 127.0.0.1:
a page rendered at a given window size, measured with JavaScript, and screenshot as PNG."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

START_TIMEOUT_S = 60  # generous: a loaded machine starts a browser slowly
CALL_TIMEOUT_S = 60
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class Page:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        async with asyncio.timeout(CALL_TIMEOUT_S):
            while True:
                message = json.loads(await self._ws.recv())
                if message.get("id") == call_id:
                    if "error" in message:
                        raise AssertionError(f"{method}: {message['error']}")
                    return dict(message.get("result", {}))
                self._events.append(message)

    async def _event(self, method: str) -> None:
        async with asyncio.timeout(CALL_TIMEOUT_S):
            while not any(event.get("method") == method for event in self._events):
                self._events.append(json.loads(await self._ws.recv()))
        self._events.clear()

    async def open(self, url: str, width: int, height: int, mobile: bool) -> None:
        """Load `url` in a window of `width` x `height` CSS pixels (a phone's when `mobile`)."""
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        self._events.clear()
        await self.call("Page.navigate", url=url)
        await self._event("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, clip: dict[str, float] | None = None) -> bytes:
        """The whole page as PNG (not only the window), or the `clip` box of it."""
        options: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if clip is not None:
            options["clip"] = {**clip, "scale": 1}
        shot = await self.call("Page.captureScreenshot", **options)
        return base64.b64decode(shot["data"])


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """A fresh headless Chromium with its own profile folder; skipped if not installed."""
    program = shutil.which("chromium")
    if program is None:
        pytest.skip("chromium is not installed (Debian's chromium package; scripts/test adds it)")
    process = await asyncio.create_subprocess_exec(
        program,
        *FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port = await _devtools_port(profile / "DevToolsActivePort", process)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/json/list") as response,
        ):
            targets = await response.json()
        (target,) = [t for t in targets if t["type"] == "page"]
        async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            page = Page(ws)
            await page.call("Page.enable")
            yield page
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), START_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _devtools_port(file: Path, process: asyncio.subprocess.Process) -> int:
    """The port Chromium chose, from the file it writes into its profile once it listens."""
    async with asyncio.timeout(START_TIMEOUT_S):
        while not (written := _read(file)):
            if process.returncode is not None:
                raise AssertionError(f"chromium exited with {process.returncode}")
            await asyncio.sleep(0.1)
    return int(written.split()[0])


def _read(file: Path) -> str:
    try:
        return file.read_text().strip()
    except FileNotFoundError:
        return ""


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of a non-interlaced 8-bit RGB or RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            chunks.append(data)
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    size = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * size
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - size] if i >= size else 0
            up = previous[i]
            corner = previous[i - size] if i >= size else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                nearest = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + nearest) & 0xFF
        rows.append(bytes(row))
        previous = row
    return width, height, [bytes(r if size == 3 else _rgb(r)) for r in rows]


def _rgb(rgba: bytes) -> bytes:
    return b"".join(rgba[i : i + 3] for i in range(0, len(rgba), 4))
