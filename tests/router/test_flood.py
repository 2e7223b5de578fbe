"""Flooding a running LC for a bounded time (`pytest -m flood`; not in the default run).

Several chargers at once, over real sockets: one sends heartbeats far above its frame budget,
one floods pings, one sends invalid frames inside its budget, one deeply nested JSON. A
well-behaved bystander keeps calling throughout and never misses an answer; the LC logs no
error, and the ping flooder gets no more pongs than its budget allows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from ocpp.v201 import call as call201

from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point
from tests.raw_ws import PING, PONG, TEXT, RawClient, connect_raw, frame

pytestmark = [pytest.mark.flood, pytest.mark.timeout(120)]

FLOOD_S = 8.0
RATE = 50.0
BURST = 200
BATCH = 100

FLOODS: dict[str, Callable[[int], bytes]] = {
    "ABOVE": lambda n: frame(TEXT, b'[2,"h%d","Heartbeat",{}]' % n),
    "PINGS": lambda n: frame(PING, b"%d" % n),
    "INVALID": lambda n: frame(TEXT, b'[2,"i%d","Heartbeat",{' % n + b"x" * 2000),
    "DEEP": lambda n: frame(TEXT, b'[2,"d%d","Heartbeat",{"a":' % n + b"[" * 900 + b"]" * 900),
}


async def _flood(client: RawClient, make: Callable[[int], bytes], until: float) -> None:
    loop, n = asyncio.get_running_loop(), 0
    while loop.time() < until:
        # drain() waits while the LC does not read (over budget): TCP holds the flood back.
        await asyncio.wait_for(client.send(b"".join(make(n + i) for i in range(BATCH))), 60)
        n += BATCH


async def _count(client: RawClient, counts: dict[int, int]) -> None:
    """Count what the LC sends back, by opcode."""
    while True:
        received, _ = await client.read_frame()
        counts[received] = counts.get(received, 0) + 1


async def test_flooding_chargers_cost_the_bystander_no_answer(
    csms: Csms, make_router: RouterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    router = await make_router(csms.url, max_frames_per_s=RATE, frame_burst=BURST)
    bystander = await connect_charge_point(lc_url(router), "CALM", "ocpp2.0.1")
    clients = {name: await connect_raw(router.port or 0, f"/ocpp/{name}") for name in FLOODS}
    counts: dict[str, dict[int, int]] = {name: {} for name in FLOODS}
    loop = asyncio.get_running_loop()
    started = loop.time()
    until = started + FLOOD_S
    tasks = [asyncio.create_task(_count(client, counts[name])) for name, client in clients.items()]
    tasks += [
        asyncio.create_task(_flood(clients[name], make, until)) for name, make in FLOODS.items()
    ]
    asked = answered = 0
    try:
        while loop.time() < until:
            asked += 1
            await asyncio.wait_for(bystander.cp.call(call201.Heartbeat()), 30)
            answered += 1
        elapsed = loop.time() - started
        pongs = counts["PINGS"].get(PONG, 0)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients.values():
            client.abort()
        await bystander.close()
    print(f"bystander {answered}/{asked} answered; pongs {pongs} in {elapsed:.1f} s; {counts}")
    assert answered == asked > 0
    assert pongs <= BURST + RATE * elapsed + 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    # Invalid frames are logged a line per charger and minute, not a line each.
    invalid_lines = [r for r in caplog.records if "InvalidMessages" in r.getMessage()]
    assert len(invalid_lines) <= 2 * len(FLOODS)
