"""Soak (marker `soak`): chargers in sessions for a long while, the CSMS dropping out every few
minutes; at the end the CSMS has every transaction-related message, in order. It runs in real
time: `scripts/test` (and CI) runs a 60 s version after the suite, the full one is

    SOAK_S=1800 OUTAGE_EVERY_S=180 scripts/test -m soak tests/router/test_hold_soak.py
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest

from router.offline import OfflineSettings
from router.server import HoldSettings, Router, RouterSettings
from tests.peers import Csms, wait_until
from tests.router.test_hold import Session16, Session201, connect, ids, transaction_frames

SOAK_S = float(os.environ.get("SOAK_S", 1800))
OUTAGE_EVERY_S = float(os.environ.get("OUTAGE_EVERY_S", 180))
CHARGERS = 10

pytestmark = [pytest.mark.soak, pytest.mark.timeout(SOAK_S + 600)]


async def _charger_life(session: Session16 | Session201, stop: asyncio.Event, seed: int) -> None:
    """Meter values every ~1 s; now and then the session ends and a new one starts."""
    rng = random.Random(seed)
    await session.start()
    while not stop.is_set():
        await session.meter()
        if rng.random() < 0.05:
            await session.stop()
            await session.start()
        await asyncio.sleep(rng.uniform(0.5, 1.5))


async def test_soak_with_repeated_outages(tmp_path: Path) -> None:
    csms = Csms(passwords={f"CP{n:02d}": f"pw{n}" for n in range(CHARGERS)})
    await csms.start()
    router = Router(
        RouterSettings(
            upstream_url=csms.url,
            listen_port=0,
            hold=HoldSettings(tmp_path / "journal.sqlite", OfflineSettings(redial_interval_s=0.5)),
        )
    )
    await router.start()
    chargers = [
        await connect(router, n, "ocpp1.6" if n % 2 else "ocpp2.0.1") for n in range(CHARGERS)
    ]
    for charger in chargers:
        await charger.cp.boot()
    sessions = [
        Session16(c) if n % 2 else Session201(c, f"CP{n:02d}") for n, c in enumerate(chargers)
    ]
    stop = asyncio.Event()
    lives = [
        asyncio.create_task(_charger_life(session, stop, n)) for n, session in enumerate(sessions)
    ]
    loop = asyncio.get_running_loop()
    rng = random.Random(7)
    end = loop.time() + SOAK_S
    outages = 0
    while loop.time() < end:
        await asyncio.sleep(min(rng.uniform(0.5, 1.5) * OUTAGE_EVERY_S, max(0, end - loop.time())))
        if loop.time() >= end:
            break
        await csms.stop()
        await asyncio.sleep(rng.uniform(0.2, 0.5) * OUTAGE_EVERY_S)
        await csms.start(csms.port)
        outages += 1
    stop.set()
    await asyncio.gather(*lives)
    for n, charger in enumerate(chargers):
        identity = f"CP{n:02d}"
        sent = ids(transaction_frames(charger.recorder.sent))
        await wait_until(
            lambda identity=identity, sent=sent: (
                ids(transaction_frames(csms.received(identity))) == sent
            ),
            timeout_s=60,
            what=f"{identity}: all {len(sent)} messages in order",
        )
        assert charger.ws.close_code is None
    assert outages >= 1
    print(
        f"\nsoak: {SOAK_S:.0f} s, {outages} outages, "
        f"{sum(len(transaction_frames(c.recorder.sent)) for c in chargers)} messages delivered"
    )
    for charger in chargers:
        await charger.close()
    await router.stop()
    await csms.stop()
