"""The LC's pings fall due at their own moments, not rounded up to a whole second
(router/timer_rounding.py): with thousands of chargers, rounding sent every ping due within a
second in one turn of the event loop and stalled every charger's frames meanwhile."""

from __future__ import annotations

import asyncio
import gc
import math

from aiohttp import ClientWebSocketResponse, web

from router.frame_tap import TappedClientWebSocketResponse, TappedWebSocketResponse
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point, wait_until

# Above aiohttp's default rounding threshold (5 s), so that the old code rounds.
PING_S = 7.3


def _lc_sockets() -> list[web.WebSocketResponse | ClientWebSocketResponse]:
    """The LC's WebSockets in this process (the test's charger and CSMS are not aiohttp's)."""
    kinds = (TappedWebSocketResponse, TappedClientWebSocketResponse)
    # By type, not isinstance: that would look through weak proxies, dead ones among them.
    return [o for o in gc.get_objects() if issubclass(type(o), kinds) and not o.closed]


async def test_pings_fall_due_a_ping_interval_after_the_last_traffic_not_on_a_whole_second(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, ping_interval_s=PING_S)
    charger = await connect_charge_point(lc_url(router), "CP-PING", "ocpp2.0.1")
    await charger.cp.boot()
    sockets = _lc_sockets()
    assert {type(s) for s in sockets} == {TappedWebSocketResponse, TappedClientWebSocketResponse}
    # The boot's traffic reset both heartbeats; wait until no reset is pending.
    await wait_until(
        lambda: not any(s._need_heartbeat_reset for s in sockets), what="heartbeats reset"
    )
    now = asyncio.get_running_loop().time()
    for socket in sockets:
        due = socket._heartbeat_when
        assert due != math.ceil(due), f"{type(socket).__name__}: ping rounded to {due}"
        assert now < due <= now + PING_S
