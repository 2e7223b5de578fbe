"""Stopping the LC while its balancer's first meter read waits on a meter that never answers:
every stop returns, however many arrive at once (SIGTERM during a failed start's clean-up)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lc.app import LocalController
from lc.serve import SHUTDOWN_BOUND_S
from tests.conftest import lc_site_config
from tests.peers import Csms, wait_until

pytestmark = pytest.mark.timeout(60)

READ_TIMEOUT_S = 600  # the first read waits all through the test


class SilentMeter:
    """A TCP server on 127.0.0.1 that accepts the LC's Modbus connection, reads its requests
    and never answers one."""

    def __init__(self) -> None:
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._connections: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.append(writer)
        while await reader.read(256):
            self.requests += 1

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for connection in self._connections:
            connection.close()
        await self._server.wait_closed()


@pytest.fixture
async def silent_meter_port() -> AsyncIterator[tuple[SilentMeter, int]]:
    meter = SilentMeter()
    port = await meter.start()
    yield meter, port
    await meter.stop()


async def test_stops_during_a_meter_read_that_never_ends_all_return(
    csms: Csms, tmp_path: Path, silent_meter_port: tuple[SilentMeter, int]
) -> None:
    meter, port = silent_meter_port
    config = lc_site_config(
        csms.url,
        tmp_path,
        site={"phase_cap_a": 32},
        meter={
            "map": "eastron_sdm630",
            "host": "127.0.0.1",
            "port": port,
            "timeout_s": READ_TIMEOUT_S,
        },
        chargers=[{"identity": "CP-1", "max_current_a": 32, "safe_current_a": 6}],
    )
    lc = LocalController(config)
    await lc.start()
    await wait_until(lambda: meter.requests > 0, what="the balancer's first meter read")
    stops = asyncio.gather(lc.stop(), lc.stop())
    await asyncio.wait_for(stops, SHUTDOWN_BOUND_S)
    await asyncio.wait_for(lc.stop(), SHUTDOWN_BOUND_S)  # and once more, all closed already
    assert lc.balancer is not None and lc.balancer.last_allocation is None  # still in that read
