"""The LC's pings on both links (`ping_interval_s`): a peer that sends nothing for that long is
pinged, and one that sends nothing within half of it after the ping is dropped, with its pair.
Anything the peer sends counts, not only pongs; and the pings go on after an answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from tests.conftest import RouterFactory
from tests.peers import Csms, connect_charge_point, wait_until
from tests.raw_ws import PING, PONG, TEXT, RawClient, connect_raw, frame

pytestmark = pytest.mark.timeout(60)

PING_S = 1.0  # the pong may take up to half of it, however loaded the machine
BOUND_S = PING_S * 25  # how long a test waits for what must come, generously


async def _next_ping(charger: RawClient) -> bytes:
    """The payload of the LC's next ping; the frames before it (answers) are skipped."""
    for _ in range(100):
        opcode, payload = await asyncio.wait_for(charger.read_frame(), BOUND_S)
        if opcode == PING:
            return payload
    raise AssertionError("no ping among the LC's next 100 frames")


async def test_a_charger_is_kept_while_it_answers_and_dropped_once_it_falls_silent(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, ping_interval_s=PING_S)
    charger = await connect_raw(router.port or 0, "/ocpp/CP-PINGED")
    try:
        await wait_until(lambda: "CP-PINGED" in router.connected(), what="the pair")
        # The first ping answered by a call instead of a pong: the charger was heard from.
        await _next_ping(charger)
        await charger.send(frame(TEXT, b'[2,"h1","Heartbeat",{}]'))
        # The second answered by a pong: the LC still pings, so it kept the charger.
        await charger.send(frame(PONG, await _next_ping(charger)))
        # The third not answered at all: the LC drops the charger and its CSMS link.
        await _next_ping(charger)
        with pytest.raises(asyncio.IncompleteReadError):
            await _next_ping(charger)
        await wait_until(lambda: not router.connected(), what="the pair to go")
        assert csms.stations["CP-PINGED"].actions == ["Heartbeat"]
    finally:
        await charger.close()


@contextlib.asynccontextmanager
async def _silent_csms(pings_answered: int) -> AsyncIterator[tuple[str, list[str]]]:
    """A CSMS (its URL) that answers its first `pings_answered` pings, then none; it records
    what it read (PING, ...) and when its link ended."""
    read: list[str] = []

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=["ocpp2.0.1"], autoping=False)
        await ws.prepare(request)
        try:
            async for message in ws:
                read.append(message.type.name)
                if message.type is WSMsgType.PING and read.count("PING") <= pings_answered:
                    await ws.pong(message.data)
        finally:  # the LC gone: the loop ends, or receive() raises
            read.append("end")
        return ws

    app = web.Application()
    app.router.add_get("/ocpp/{identity}", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield f"ws://127.0.0.1:{server.port}", read


async def test_a_csms_that_answers_a_ping_then_falls_silent_is_dropped_with_the_charger(
    make_router: RouterFactory,
) -> None:
    async with _silent_csms(pings_answered=1) as (url, read):
        router = await make_router(url, ping_interval_s=PING_S)
        charger = await connect_charge_point(f"ws://127.0.0.1:{router.port}", "CP-P", "ocpp2.0.1")
        await asyncio.wait_for(charger.ws.wait_closed(), BOUND_S)
        await wait_until(lambda: not router.connected(), what="the pair to go")
        await wait_until(lambda: read[-1:] == ["end"], what="the CSMS link to end")
        assert read[:2] == ["PING", "PING"]
