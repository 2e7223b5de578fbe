"""Link coupling, the `close` policy of Part 4 §6.3: one side lost → the other side closed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from router import events as ev
from tests.conftest import ObservedRouter, RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point, wait_until

REPO = Path(__file__).resolve().parents[2]
PING_S = 0.4

ChargerProcess = tuple[ObservedRouter, asyncio.subprocess.Process]  # a charger in its own process


@pytest.fixture
async def charger_process(csms: Csms, make_router: RouterFactory) -> AsyncIterator[ChargerProcess]:
    router = await make_router(csms.url, ping_interval_s=PING_S)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.charger_process",
        lc_url(router),
        "CP-PROC",
        "ocpp1.6",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert (await asyncio.wait_for(process.stdout.readline(), 10)).strip() == b"ready"
    yield router, process
    with contextlib.suppress(ProcessLookupError):  # the test may have killed it already
        process.kill()
    await process.wait()


async def test_killed_charger_closes_its_csms_link(
    csms: Csms, charger_process: ChargerProcess
) -> None:
    router, process = charger_process
    upstream = csms.connections["CP-PROC"].ws
    os.kill(process.pid, signal.SIGKILL)
    await asyncio.wait_for(upstream.wait_closed(), PING_S * 25)  # bounded, generously
    await wait_until(lambda: not router.connected(), what="the pair to go")
    assert [e for e in router.observed if isinstance(e, ev.ChargerDisconnected)]


async def test_frozen_charger_is_found_by_ping_and_its_csms_link_closed(
    csms: Csms,
    charger_process: ChargerProcess,
) -> None:
    _router, process = charger_process
    upstream = csms.connections["CP-PROC"].ws
    os.kill(process.pid, signal.SIGSTOP)
    try:
        # The frozen process's TCP stays up: only the LC's pings (every PING_S, configured; the
        # default is 30 s) can find it. Bounded far below the default, however loaded the machine.
        await asyncio.wait_for(upstream.wait_closed(), PING_S * 25)
    finally:
        os.kill(process.pid, signal.SIGCONT)


async def test_csms_crash_closes_the_charger_links(make_router: RouterFactory) -> None:
    csms = Csms()
    await csms.start()
    router = await make_router(csms.url, ping_interval_s=PING_S)
    chargers = [
        await connect_charge_point(lc_url(router), f"CP-{n}", version)
        for n, version in enumerate(["ocpp1.6", "ocpp2.0.1", "ocpp1.6"])
    ]
    for charger in chargers:
        await charger.cp.boot()
    # A crash, not a goodbye: the CSMS's TCP connections vanish without close frames.
    for connection in csms.connections.values():
        transport = connection.ws.transport
        transport.abort()
    for charger in chargers:
        await asyncio.wait_for(charger.ws.wait_closed(), PING_S * 25)  # bounded, generously
        assert isinstance(charger.ws.close_code, int)
    await wait_until(lambda: not router.connected(), what="all pairs to go")
    await csms.stop()


async def test_csms_shutdown_closes_the_charger_links(make_router: RouterFactory) -> None:
    csms = Csms()
    await csms.start()
    router = await make_router(csms.url)
    charger = await connect_charge_point(lc_url(router), "CP-S", "ocpp2.0.1")
    await charger.cp.boot()
    await csms.stop()
    await asyncio.wait_for(charger.ws.wait_closed(), 5)
    with pytest.raises(websockets.ConnectionClosed):
        await charger.ws.recv()
