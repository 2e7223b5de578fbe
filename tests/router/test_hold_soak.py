"""Soak (marker `soak`): chargers in sessions for 30 minutes of simulated time, the CSMS
dropping out every few minutes; at the end the CSMS has every transaction-related message, in
order, and no charger lost its socket. The only extra copies allowed are at-least-once re-sends:
a frame the CSMS got but could not answer before it went away comes again, byte-identical.

Simulated time runs TIME_SCALE times faster than the clock: a charger sends a meter value every
~30 simulated seconds, sessions last ~10 simulated minutes, the CSMS goes away every ~5 simulated
minutes for 1-2.5 minutes, and the LC redials every 15 simulated seconds. `scripts/test` (and
CI) runs it after the suite: 30 simulated minutes at TIME_SCALE 30 take one real minute. In
real time (30 real minutes):

    SOAK_MINUTES=30 TIME_SCALE=1 scripts/test -m soak tests/router/test_hold_soak.py
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import pytest

from router.offline import OfflineSettings
from router.server import Router
from router.settings import HoldSettings, RouterSettings
from tests.peers import Csms, wait_until
from tests.router.test_hold import Session16, Session201, connect, ids, transaction_frames

SOAK_MINUTES = float(os.environ.get("SOAK_MINUTES", 30))
TIME_SCALE = float(os.environ.get("TIME_SCALE", 30))
CHARGERS = 10
# In simulated seconds; divided by TIME_SCALE into real ones.
METER_INTERVAL_S = 30.0
SESSION_END_CHANCE = 0.05  # per meter value: sessions last ~20 meter values
OUTAGE_EVERY_S = 300.0
OUTAGE_LENGTH_S = (60.0, 150.0)
REDIAL_INTERVAL_S = 15.0
SOAK_S = SOAK_MINUTES * 60 / TIME_SCALE  # real seconds

pytestmark = [pytest.mark.soak, pytest.mark.timeout(SOAK_S + 600)]


async def _charger_life(session: Session16 | Session201, stop: asyncio.Event, seed: int) -> None:
    """A meter value every ~METER_INTERVAL_S; now and then the session ends, a new one starts."""
    rng = random.Random(seed)
    await session.start()
    while not stop.is_set():
        await session.meter()
        if rng.random() < SESSION_END_CHANCE:
            await session.stop()
            await session.start()
        await asyncio.sleep(rng.uniform(0.5, 1.5) * METER_INTERVAL_S / TIME_SCALE)


def _without_resends(frames: list[str]) -> tuple[list[str], int]:
    """(frames, re-sends dropped). At-least-once: a frame the CSMS got but could not answer
    before it went away is sent again, byte-identical, first thing on the next connection, so
    it follows its first copy directly. Anything else is a loss, a reorder or a bad copy."""
    kept: list[str] = []
    for frame in frames:
        if not kept or kept[-1] != frame:
            kept.append(frame)
    return kept, len(frames) - len(kept)


def _delivered_in_order(sent: list[str], received: list[str]) -> bool:
    got, _resent = _without_resends(transaction_frames(received))
    return ids(got) == ids(sent)


def _difference(sent: list[str], received: list[str]) -> str:
    """Where what the CSMS got first differs from what the charger sent, frames around it."""
    got, resent = _without_resends(transaction_frames(received))
    sent_ids, got_ids = ids(sent), ids(got)
    missing = [message_id for message_id in sent_ids if message_id not in got_ids]
    first = next(
        (n for n, (a, b) in enumerate(zip(sent_ids, got_ids, strict=False)) if a != b),
        min(len(sent_ids), len(got_ids)),
    )
    window = slice(max(first - 2, 0), first + 3)
    return (
        f"the CSMS got {len(got)} of {len(sent)} ({resent} re-sends), missing {missing}, "
        f"first difference at {first}\nsent: {sent[window]}\ngot:  {got[window]}"
    )


async def test_soak_with_repeated_outages(tmp_path: Path) -> None:
    csms = Csms(passwords={f"CP{n:02d}": f"pw{n}" for n in range(CHARGERS)})
    await csms.start()
    router = Router(
        RouterSettings(
            upstream_url=csms.url,
            listen_port=0,
            hold=HoldSettings(
                tmp_path / "journal.sqlite",
                OfflineSettings(redial_interval_s=REDIAL_INTERVAL_S / TIME_SCALE),
            ),
        )
    )
    await router.start()
    chargers: list[Any] = []
    try:
        chargers += [
            await connect(router, n, "ocpp1.6" if n % 2 else "ocpp2.0.1") for n in range(CHARGERS)
        ]
        for charger in chargers:
            await charger.cp.boot()
        sessions = [
            Session16(c) if n % 2 else Session201(c, f"CP{n:02d}") for n, c in enumerate(chargers)
        ]
        stop = asyncio.Event()
        lives = [
            asyncio.create_task(_charger_life(session, stop, n))
            for n, session in enumerate(sessions)
        ]
        loop = asyncio.get_running_loop()
        rng = random.Random(7)
        end = loop.time() + SOAK_S
        outages = 0
        while loop.time() < end:
            until_outage = rng.uniform(0.5, 1.5) * OUTAGE_EVERY_S / TIME_SCALE
            await asyncio.sleep(min(until_outage, max(0, end - loop.time())))
            if loop.time() >= end:
                break
            await csms.stop()
            await asyncio.sleep(rng.uniform(*OUTAGE_LENGTH_S) / TIME_SCALE)
            await csms.start(csms.port)
            outages += 1
        stop.set()
        await asyncio.gather(*lives)
        for n, charger in enumerate(chargers):
            identity = f"CP{n:02d}"
            sent = transaction_frames(charger.recorder.sent)

            def in_order(identity: str = identity, sent: list[str] = sent) -> bool:
                return _delivered_in_order(sent, csms.received(identity))

            try:
                await wait_until(
                    in_order,
                    timeout_s=60,
                    what=f"{identity}: all {len(sent)} messages in order",
                )
            except AssertionError as failure:
                difference = _difference(sent, csms.received(identity))
                raise AssertionError(f"{failure}: {difference}") from None
            assert charger.ws.close_code is None
        assert outages >= 3  # "every few minutes"
        delivered = sum(len(transaction_frames(c.recorder.sent)) for c in chargers)
        resent = sum(
            _without_resends(transaction_frames(csms.received(f"CP{n:02d}")))[1]
            for n in range(CHARGERS)
        )
        print(
            f"\nsoak: {SOAK_MINUTES:g} simulated minutes in {SOAK_S:.0f} s, {outages} outages, "
            f"{delivered} messages delivered in order, {resent} of them re-sent byte-identical"
        )
    finally:  # a failed soak must still let go of its journal, or the process never exits
        for charger in chargers:
            await charger.close()
        await router.stop()
        await csms.stop()
