"""What a simulated charger does after accepting UpdateFirmware: download the file from the
location it was given, install it, and report each step (1.6 and 2.0.1 share the statuses)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

# How long installing takes (a real charger needs minutes; the demo is short).
INSTALL_S = 3.0
_TIMEOUT = aiohttp.ClientTimeout(total=120)

Notify = Callable[[str], Awaitable[None]]


async def update_firmware(location: str, notify: Notify) -> None:
    await notify("Downloading")
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as http,
            http.get(location) as response,
        ):
            response.raise_for_status()
            await response.read()
    except (aiohttp.ClientError, TimeoutError):
        await notify("DownloadFailed")
        return
    await notify("Downloaded")
    await notify("Installing")
    await asyncio.sleep(INSTALL_S)
    await notify("Installed")


class FirmwareUpdates:
    """A charger's updates running in the background (kept, so none is collected midway)."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def start(self, location: str, notify: Notify) -> None:
        task = asyncio.create_task(update_firmware(location, notify))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
