"""The firmware file server's limits on fetches at once, in all and per client, with real
concurrent clients on 127.0.0.1 and other loopback addresses."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from firmware.server import FileServer
from firmware.store import FirmwareStore
from tests.firmware.origin import FIRMWARE, stalled_download
from tests.peers import wait_until

pytestmark = pytest.mark.timeout(60)

# Larger than what the kernel buffers between the LC and a client that stops reading.
LARGE = FIRMWARE * 12
CHECKSUM = hashlib.md5(LARGE, usedforsecurity=False).hexdigest()


@asynccontextmanager
async def serving(
    folder: Path, total: int, per_client: int
) -> AsyncIterator[tuple[FileServer, str]]:
    """A file server with a large file published; the server and the file's URI."""
    store = FirmwareStore(folder, 64 * 2**20)
    store.partial(CHECKSUM).write_bytes(LARGE)
    published = store.publish(CHECKSUM, "fw.bin", 1)
    server = FileServer(store, "127.0.0.1", CollectorRegistry(), total, per_client)
    await server.listen("http", "127.0.0.1", 0)
    try:
        [uri] = server.uris(published)
        yield server, uri
    finally:
        await server.stop()


async def _fetch_from(source: str, url: str) -> tuple[int, str | None, int]:
    """Status, Retry-After and body length of one whole fetch from `source`."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http, http.get(url) as response:
        body = await response.read()
        return response.status, response.headers.get("Retry-After"), len(body)


async def test_fetches_beyond_the_limits_are_told_to_retry_later(tmp_path: Path) -> None:
    async with serving(tmp_path / "firmware", total=2, per_client=1) as (server, uri):
        port = int(uri.split(":")[2].split("/")[0])
        path = uri.split(str(port), 1)[1]
        stalled: list[socket.socket] = []
        try:
            stalled.append(await stalled_download("127.0.0.1", port, path, "127.0.0.1"))
            await wait_until(lambda: server.fetches_in_progress == 1, 10, "one fetch running")
            # The same client again: over its own limit, though the server has room.
            status, retry_after, _ = await _fetch_from("127.0.0.1", uri)
            assert (status, retry_after) == (503, "60")
            # Another client takes the last slot; a third one finds the server full.
            stalled.append(await stalled_download("127.0.0.1", port, path, "127.0.0.2"))
            await wait_until(lambda: server.fetches_in_progress == 2, 10, "two fetches running")
            status, retry_after, _ = await _fetch_from("127.0.0.3", uri)
            assert (status, retry_after) == (503, "60")
        finally:
            for sock in stalled:
                sock.close()
        await wait_until(lambda: server.fetches_in_progress == 0, 30, "the fetches over")
        # Slots given back: the refused client now gets the whole file.
        assert await _fetch_from("127.0.0.3", uri) == (200, None, len(LARGE))
