"""`kill -9` of the LC in the middle of a connect storm during a CSMS outage: every message the
LC acknowledged to a charger reaches the CSMS afterwards, in the order the charger sent it.

Many chargers connect at once and send transaction messages that the LC journals and answers
itself; their journal writes share group commits. The LC is killed while they are at it, then
restarted with the CSMS back: it delivers every backlog on its own (the chargers carry no
credentials, so it may dial for them), and what a charger got an answer for must all be there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from router.server import Router
from tests.peers import Csms, RunningChargePoint, connect_charge_point, wait_until
from tests.router.test_hold import (
    Session16,
    Session201,
    connect,
    hold_router,  # noqa: F401 (fixture)
    ids,
    transaction_frames,
)
from tests.router.test_hold_crash import LcProcess, start_lc_process

pytestmark = pytest.mark.timeout(180)

CHARGERS = [(f"CP{n:03d}", "ocpp1.6" if n % 2 else "ocpp2.0.1") for n in range(40)]
METER_VALUES = 20  # per charger after its transaction starts: traffic outlasts the kill
KILL_AFTER_ACKNOWLEDGED = len(CHARGERS)  # transaction messages answered before the kill


@pytest.fixture
async def garage(tmp_path: Path) -> AsyncIterator[tuple[Csms, LcProcess]]:
    csms = Csms()  # no credentials: the LC may deliver a backlog without its charger
    await csms.start()
    storm_admission = """
max_csms_dials = 100
handshakes_per_s_per_address = 1000
handshake_burst_per_address = 1000
"""
    lc = await start_lc_process(csms, tmp_path, storm_admission)
    yield csms, lc
    await lc.stop()
    await csms.stop()


async def test_only_16_chargers_reserve_provisional_transaction_ids(
    hold_router: tuple[Csms, Router],  # noqa: F811
) -> None:
    """A connection journals only what it needs: 2.0.1 chargers choose their own ids."""
    _csms, router = hold_router
    chargers = [await connect(router, 1, "ocpp1.6"), await connect(router, 2, "ocpp2.0.1")]
    await wait_until(lambda: set(router.connected()) == {"CP01", "CP02"}, what="both connected")
    assert router.settings.hold is not None
    journal = router.settings.hold.journal_path
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        reserved = dict(db.execute("SELECT identity, last FROM counters"))
    assert reserved == {"CP01": 4}
    for charger in chargers:
        await charger.close()


def _admissible(journal: Path) -> set[str]:
    """The identities the LC may admit while the CSMS is down, read beside the running LC."""
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        return {identity for (identity,) in db.execute("SELECT identity FROM credentials")}


async def _known_to_the_lc(lc: LcProcess) -> None:
    """Every charger connects once with the CSMS up, so the LC admits it during the outage."""
    url = f"ws://127.0.0.1:{lc.port}"
    running = [await connect_charge_point(url, identity, version) for identity, version in CHARGERS]
    for charger in running:
        await charger.cp.boot()
    await wait_until(
        lambda: _admissible(lc.journal) == {identity for identity, _ in CHARGERS},
        timeout_s=30,
        what="every charger admissible offline",
    )
    for charger in running:
        await charger.close()


async def _charge(
    url: str, identity: str, version: str, out: dict[str, RunningChargePoint]
) -> None:
    """Connect, start a transaction and send meter values until the link breaks."""
    try:
        charger = await connect_charge_point(url, identity, version)
    except (OSError, websockets.InvalidHandshake, TimeoutError):
        return  # the LC was killed before this one got in
    out[identity] = charger
    session = Session16(charger) if version == "ocpp1.6" else Session201(charger, identity)
    with contextlib.suppress(websockets.ConnectionClosed, asyncio.TimeoutError):
        await session.start()
        for _ in range(METER_VALUES):
            await session.meter()


def _acknowledged(charger: RunningChargePoint) -> list[str]:
    """The transaction messages the charger sent and got an answer to, in sending order."""
    answered = {json.loads(frame)[1] for frame in charger.recorder.received}
    return [
        frame
        for frame in transaction_frames(charger.recorder.sent)
        if json.loads(frame)[1] in answered
    ]


def _delivered_in_order(csms: Csms, identity: str, charger: RunningChargePoint) -> bool:
    """The acknowledged messages at the CSMS, in order; repeats only as identical copies (a
    replayed 2.0.1 event says it was sent offline, so it may differ from what the charger sent).
    """
    first: dict[str, str] = {}
    for frame in transaction_frames(csms.received(identity)):
        message_id = json.loads(frame)[1]
        assert first.setdefault(message_id, frame) == frame, f"{message_id}: a changed duplicate"
    expected = ids(_acknowledged(charger))
    return [message_id for message_id in first if message_id in set(expected)] == expected


async def test_lc_killed_during_a_connect_storm_loses_nothing_acknowledged(
    garage: tuple[Csms, LcProcess],
) -> None:
    csms, lc = garage
    await _known_to_the_lc(lc)
    await csms.stop()

    url = f"ws://127.0.0.1:{lc.port}"
    running: dict[str, RunningChargePoint] = {}
    storm = [
        asyncio.create_task(_charge(url, identity, version, running))
        for identity, version in CHARGERS
    ]
    await wait_until(
        lambda: sum(map(len, map(_acknowledged, running.values()))) >= KILL_AFTER_ACKNOWLEDGED,
        timeout_s=60,
        what="the storm under way",
    )
    await lc.kill()
    await asyncio.gather(*storm)
    for charger in running.values():
        await charger.close()
    acknowledged = {identity: len(_acknowledged(charger)) for identity, charger in running.items()}
    assert sum(acknowledged.values()) >= KILL_AFTER_ACKNOWLEDGED

    await csms.start(csms.port)
    await lc.start()
    for identity, charger in running.items():

        def delivered(i: str = identity, c: RunningChargePoint = charger) -> bool:
            return _delivered_in_order(csms, i, c)

        await wait_until(
            delivered,
            timeout_s=60,
            what=f"{identity}: its {acknowledged[identity]} acknowledged messages",
        )
