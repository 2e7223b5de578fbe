"""Limits that keep one charger from hurting the others: its frame rate, and how many connect.

Real sockets: a flooding charger (a plain WebSocket client that does not wait for answers),
PyPI-`ocpp` charge points and CSMS.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from ocpp.v201 import call as call201
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point

pytestmark = pytest.mark.timeout(60)

FLOOD = 150
RATE = 100.0
BURST = 10


async def test_a_flooding_charger_is_slowed_down_and_loses_nothing(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, max_frames_per_s=RATE, frame_burst=BURST)
    bystander = await connect_charge_point(lc_url(router), "CALM", "ocpp2.0.1")
    flooder = await websockets.connect(
        f"{lc_url(router)}/ocpp/FLOOD",
        subprotocols=[Subprotocol("ocpp2.0.1")],
        open_timeout=5,
    )
    loop = asyncio.get_running_loop()
    answered: list[str] = []

    async def read_flood_answers() -> None:
        while len(answered) < FLOOD:
            answered.append(json.loads(await asyncio.wait_for(flooder.recv(), 10))[1])

    try:
        started = loop.time()
        for n in range(FLOOD):  # all at once, without waiting for answers
            await flooder.send(f'[2,"hb-{n}","Heartbeat",{{}}]')
        reader = asyncio.create_task(read_flood_answers())
        await bystander.cp.call(call201.Heartbeat())
        flood_answered_then = len(answered)
        await reader
        elapsed = loop.time() - started
    finally:
        await flooder.close()
        await bystander.close()
    # Every frame went through, in order: the LC read the flooder more slowly, at the rate.
    assert answered == [f"hb-{n}" for n in range(FLOOD)]
    assert elapsed >= (FLOOD - BURST) / RATE * 0.95
    assert router.metrics.throttled_seconds._value.get() > 0
    # The other charger did not wait behind the flood: it was answered while most of the
    # flood was still to be read.
    assert flood_answered_then < FLOOD // 2


async def test_chargers_beyond_max_chargers_get_503_until_one_leaves(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, max_chargers=2)
    first = await connect_charge_point(lc_url(router), "CP1", "ocpp1.6")
    second = await connect_charge_point(lc_url(router), "CP2", "ocpp2.0.1")
    try:
        with pytest.raises(InvalidStatus) as refused:
            await connect_charge_point(lc_url(router), "CP3", "ocpp1.6")
        assert refused.value.response.status_code == 503
        assert router.metrics.connections_refused._value.get() == 1
        # A charger replacing its own connection is not a new one: it gets in.
        again = await connect_charge_point(lc_url(router), "CP2", "ocpp2.0.1")
        assert (await again.cp.boot()).status == "Accepted"
        await first.close()
        for _ in range(100):  # bounded: until the LC has seen CP1 go
            if "CP1" not in router.connected():
                break
            await asyncio.sleep(0.05)
        third = await connect_charge_point(lc_url(router), "CP3", "ocpp1.6")
        assert (await third.cp.boot()).status == "Accepted"
        await third.close()
        await again.close()
    finally:
        await second.close()
