"""`ocpp_lc_event_loop_lag_seconds`: a stall of the event loop shows in the histogram, and the
running LC serves it."""

from __future__ import annotations

import asyncio
import time

from supervision.loop_lag import REGISTRY, LoopLagProbe
from tests.peers import wait_until, wait_until_async
from tests.router.test_hold_crash import LcProcess
from tests.supervision.conftest import lc_metric

STALL_S = 0.3


def _samples(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(f"ocpp_lc_event_loop_lag_seconds_{name}", labels) or 0.0


def _beyond_quarter_second() -> float:
    return _samples("count") - _samples("bucket", {"le": "0.25"})


async def test_a_stalled_loop_is_recorded_as_late_as_it_stalled() -> None:
    probe = LoopLagProbe(interval_s=0.01)
    try:
        await wait_until(lambda: _samples("count") > 0, what="a first probe")
        stalls_before = _beyond_quarter_second()
        asyncio.get_running_loop().call_soon(time.sleep, STALL_S)  # a callback holding the loop
        await wait_until(lambda: _beyond_quarter_second() > stalls_before, what="the stall")
    finally:
        probe.close()


async def test_the_lc_serves_its_loop_lag(lc: LcProcess) -> None:
    async def probed() -> bool:
        return await lc_metric(lc, "ocpp_lc_event_loop_lag_seconds_count") > 0

    await wait_until_async(probed, timeout_s=10, what="the loop lag served")
