"""A whole LC in its own process, as `lc run` starts it, and its metrics read over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.peers import Csms
from tests.router.test_hold_crash import LcProcess, start_lc_process


async def lc_metric(lc: LcProcess, name: str) -> float:
    """The sum of the LC's samples whose line starts with `name` (0 when there is none)."""
    url = f"http://127.0.0.1:{lc.metrics_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


@pytest.fixture
async def lc(tmp_path: Path) -> AsyncIterator[LcProcess]:
    csms = Csms()
    await csms.start()
    # Chargers connect at once, from one address.
    admission = """
handshakes_per_s_per_address = 1000
handshake_burst_per_address = 1000
"""
    lc = await start_lc_process(csms, tmp_path, admission)
    yield lc
    await lc.stop()
    await csms.stop()
