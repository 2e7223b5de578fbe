"""A hostile charger inside its frame budget: what it sends cannot take the LC or another
charger down (issue items: trickled frames, pings, invalid-frame floods, numbers).

Real sockets on 127.0.0.1: the PyPI `ocpp` package as CSMS and as the bystander charger that
keeps being answered, plain WebSocket clients (or raw frames) as the hostile one.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import websockets
from ocpp.v201 import call as call201
from websockets.typing import Subprotocol

from router import events as ev
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, connect_charge_point, wait_until
from tests.raw_ws import CLOSE, PING, PONG, TEXT, connect_raw, frame

pytestmark = pytest.mark.timeout(90)

TS = "2026-11-25T10:00:00Z"


async def test_a_meter_value_with_multiplier_400_keeps_the_link_up(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    bystander = await connect_charge_point(lc_url(router), "CALM", "ocpp2.0.1")
    ws = await websockets.connect(
        f"{lc_url(router)}/ocpp/HUGE",
        subprotocols=[Subprotocol("ocpp2.0.1")],
        open_timeout=5,
    )
    sampled = [
        {"value": 16.0, "measurand": "Current.Import", "phase": "L1"},
        {"value": 1.0, "unitOfMeasure": {"unit": "Wh", "multiplier": 400}},  # schema-valid
    ]
    meter_values = {"evseId": 1, "meterValue": [{"timestamp": TS, "sampledValue": sampled}]}
    try:
        await ws.send(json.dumps([2, "mv1", "MeterValues", meter_values]))
        # The CSMS peer has no MeterValues handler: its answer is a CALLERROR, relayed.
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))[1] == "mv1"
        # The link is still up and relaying; the sample that could be used was observed.
        await ws.send('[2,"hb1","Heartbeat",{}]')
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))[:2] == [3, "hb1"]
        assert "HUGE" in router.connected()
        observed: list[ev.Event] = router.observed
        assert ev.MeterSampled("HUGE", 1, None, (16.0, None, None), None, None) in observed
        assert (await bystander.cp.call(call201.Heartbeat())).current_time
    finally:
        await ws.close()
        await bystander.close()


PING_RATE = 20.0
PING_BURST = 5


async def test_a_ping_flood_is_answered_only_within_the_frame_budget(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, max_frames_per_s=PING_RATE, frame_burst=PING_BURST)
    bystander = await connect_charge_point(lc_url(router), "CALM", "ocpp2.0.1")
    flooder = await connect_raw(router.port or 0, "/ocpp/PINGER")
    loop = asyncio.get_running_loop()
    pongs = 0

    async def count_pongs() -> None:
        nonlocal pongs
        while True:
            opcode, _ = await flooder.read_frame()
            pongs += opcode == PONG

    counter = asyncio.create_task(count_pongs())
    try:
        started = loop.time()
        await flooder.send(b"".join(frame(PING, b"%d" % n) for n in range(2000)))
        answered = 0
        for _ in range(5):  # the bystander is served throughout
            await bystander.cp.call(call201.Heartbeat())
            answered += 1
        await wait_until(lambda: pongs >= 30, timeout_s=30, what="pongs at the frame rate")
        counted, elapsed = pongs, loop.time() - started
    finally:
        counter.cancel()
        await flooder.close()
        await bystander.close()
    assert answered == 5
    # Every pong the flooder got was read within the budget: burst + rate × the time so far.
    assert counted <= PING_BURST + PING_RATE * elapsed + 1
    assert router.metrics.throttled_seconds._value.get() > 0


async def test_unsolicited_pongs_count_against_the_frame_budget(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, max_frames_per_s=PING_RATE, frame_burst=PING_BURST)
    client = await connect_raw(router.port or 0, "/ocpp/PONGER")
    try:
        await client.send(b"".join(frame(PONG, b"x") for _ in range(40)))
        await client.send(frame(TEXT, b'[2,"after","Heartbeat",{}]'))
        opcode, answer = await asyncio.wait_for(client.read_frame(), 30)
    finally:
        await client.close()
    assert opcode == TEXT and json.loads(answer)[:2] == [3, "after"]
    # The pongs were read at the frame rate before the heartbeat behind them.
    assert router.metrics.throttled_seconds._value.get() > 0


async def test_a_trickled_frame_closes_its_link_after_the_frame_timeout(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, frame_timeout_s=0.5)
    bystander = await connect_charge_point(lc_url(router), "CALM", "ocpp2.0.1")
    trickler = await connect_raw(router.port or 0, "/ocpp/TRICKLE")

    async def trickle() -> None:
        # 250 KB declared, then a byte at a time (bounded: far fewer than declared).
        await trickler.send(frame(TEXT, b"", declared_length=250_000))
        for _ in range(2000):
            await trickler.send(b"[")
            await asyncio.sleep(0.01)

    sender = asyncio.create_task(trickle())
    try:
        answered = 0
        for _ in range(3):
            await bystander.cp.call(call201.Heartbeat())
            answered += 1
        opcode, payload = await asyncio.wait_for(trickler.read_frame(), 30)
        await wait_until(lambda: "TRICKLE" not in router.connected(), timeout_s=30, what="gone")
        await bystander.cp.call(call201.Heartbeat())
        answered += 1
    finally:
        sender.cancel()
        await trickler.close()
        await bystander.close()
    assert opcode == CLOSE and int.from_bytes(payload[:2], "big") == 1008
    assert router.metrics.frame_timeouts._value.get() == 1
    assert answered == 4
    assert "CALM" in router.connected()


FLOODERS = 20
INVALID_EACH = 40
BINARY_EACH = 10  # OCPP-J is text only: dropped without an answer


async def test_chargers_sending_invalid_frames_get_one_log_line_each_and_lose_no_answer(
    csms: Csms, make_router: RouterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="router.link")
    router = await make_router(csms.url)
    bystander = await connect_charge_point(lc_url(router), "CALM", "ocpp2.0.1")
    flooders = [
        await websockets.connect(
            f"{lc_url(router)}/ocpp/BAD{n}",
            subprotocols=[Subprotocol("ocpp2.0.1")],
            open_timeout=10,
        )
        for n in range(FLOODERS)
    ]

    async def flood(ws: websockets.ClientConnection) -> list[str]:
        for n in range(BINARY_EACH):
            await ws.send(b"\x00binary %d" % n)
        for n in range(INVALID_EACH):  # broken JSON with a readable id: within the budget
            await ws.send(f'[2,"bad{n}","Heartbeat",{{' + "x" * 4000)
        return [json.loads(await asyncio.wait_for(ws.recv(), 30))[1] for _ in range(INVALID_EACH)]

    try:
        floods = asyncio.gather(*(flood(ws) for ws in flooders))
        answered = 0
        for _ in range(5):
            await bystander.cp.call(call201.Heartbeat())
            answered += 1
        answers = await floods
        lines_while_connected = _invalid_message_lines(caplog)
    finally:
        for ws in flooders:
            await ws.close()
    await wait_until(lambda: list(router.connected()) == ["CALM"], timeout_s=30, what="closed")
    await bystander.close()
    assert answered == 5
    assert answers == [[f"bad{n}" for n in range(INVALID_EACH)]] * FLOODERS
    # One line per charger so far, each cut short; the rest are counted, and the count is
    # logged when the link closes.
    assert len(lines_while_connected) == FLOODERS
    assert all(len(line) < 400 for line in lines_while_connected)
    summaries = [line for line in _invalid_message_lines(caplog) if "more since" in line]
    assert sorted(summaries) == sorted(
        f"BAD{n}: InvalidMessages: {BINARY_EACH + INVALID_EACH - 1} more since the last line"
        for n in range(FLOODERS)
    )


def _invalid_message_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "InvalidMessages" in r.getMessage()]


def _status_notifications(count: int) -> bytes:
    text = '[2,"s{n}","StatusNotification",{{"timestamp":"' + TS + '","connectorStatus":'
    text += '"Available","evseId":1,"connectorId":1}}]'
    return b"".join(frame(TEXT, text.format(n=n).encode()) for n in range(count))


async def test_a_charger_whose_frames_are_all_buffered_does_not_hold_the_others_back(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    first = await connect_raw(router.port or 0, "/ocpp/FIRST")
    second = await connect_raw(router.port or 0, "/ocpp/SECOND")
    observed: list[ev.Event] = router.observed
    try:
        # Both at once, each in one write: the LC finds all of both in its buffers.
        first.writer.write(_status_notifications(100))
        second.writer.write(_status_notifications(100))
        await asyncio.gather(first.writer.drain(), second.writer.drain())
        await wait_until(lambda: len(observed) >= 200, timeout_s=30, what="every status")
    finally:
        await first.close()
        await second.close()
    identities = [event.identity for event in observed[:100]]
    # The LC took turns: each charger got a good share of the first hundred frames handled.
    assert identities.count("FIRST") >= 25 and identities.count("SECOND") >= 25
