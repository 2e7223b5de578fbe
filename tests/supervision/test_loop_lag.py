"""`ocpp_lc_event_loop_lag_seconds`: a stall of the event loop shows in the histogram, and the
running LC serves it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from supervision.loop_lag import REGISTRY, LoopLagProbe
from tests.peers import Csms, wait_until, wait_until_async
from tests.router.test_hold_crash import LcProcess, start_lc_process

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


@pytest.fixture
async def lc(tmp_path: Path) -> AsyncIterator[LcProcess]:
    csms = Csms()
    await csms.start()
    lc = await start_lc_process(csms, tmp_path)
    yield lc
    await lc.stop()
    await csms.stop()


async def test_the_lc_serves_its_loop_lag(lc: LcProcess) -> None:
    url = f"http://127.0.0.1:{lc.metrics_port}/metrics"

    async def probed() -> bool:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            text = await response.text()
        counts = [
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("ocpp_lc_event_loop_lag_seconds_count")
        ]
        return bool(counts) and counts[0] > 0

    await wait_until_async(probed, timeout_s=10, what="the loop lag served")
