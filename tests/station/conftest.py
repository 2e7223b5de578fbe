from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.station.csms_for_lc import CsmsForLc, running_csms
from tests.station.garage_for_lc import Stops


@pytest.fixture
async def csms() -> AsyncIterator[CsmsForLc]:
    """A CSMS for the LC's own identity, on 127.0.0.1."""
    async with running_csms(CsmsForLc()) as server:
        yield server


@pytest.fixture
async def stack() -> AsyncIterator[Stops]:
    """What to stop at the end, last started first."""
    stops: Stops = []
    yield stops
    for stop in reversed(stops):
        await stop()
