from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from modbus.simulator import SimulatedMeter
from tests.peers import running
from tests.station.csms16_for_lc import CsmsForLc16
from tests.station.csms_for_lc import CsmsForLc
from tests.station.garage_for_lc import LcRunner, Stops
from tests.station.upload_server import UploadServer, upload_server


@pytest.fixture
async def csms() -> AsyncIterator[CsmsForLc]:
    """A CSMS for the LC's own identity, on 127.0.0.1."""
    async with running(CsmsForLc()) as server:
        yield server


@pytest.fixture
async def csms16() -> AsyncIterator[CsmsForLc16]:
    """A 1.6 CSMS for the LC's own identity, on 127.0.0.1."""
    async with running(CsmsForLc16()) as server:
        yield server


@pytest.fixture
async def stack() -> AsyncIterator[Stops]:
    """What to stop at the end, last started first."""
    stops: Stops = []
    yield stops
    for stop in reversed(stops):
        await stop()


@pytest.fixture
async def meter() -> AsyncIterator[SimulatedMeter]:
    """A simulated site meter on 127.0.0.1."""
    simulated = SimulatedMeter("eastron_sdm630")
    await simulated.start()
    yield simulated
    await simulated.stop()


@pytest.fixture
async def lcs() -> AsyncIterator[LcRunner]:
    """Starts LCs; those still running at the end are stopped."""
    runner = LcRunner()
    yield runner
    for lc in list(runner.running):
        await runner.stop(lc)


@pytest.fixture
async def uploads() -> AsyncIterator[UploadServer]:
    """A server on 127.0.0.1 receiving the LC's log uploads."""
    async with upload_server() as server:
        yield server
