"""Who gets a charger's identity: a refused or failed handshake never disturbs the charger
connected with it, and one pair per identity runs, the one accepted last (Part 4 §6.2).

Real sockets: PyPI-`ocpp` charge points and a PyPI-`ocpp` CSMS that checks Basic auth; raw
asyncio servers for CSMS refusals the `ocpp` CSMS does not make.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.protocol import State

from router import events as ev
from router.journal import Journal
from router.settings import HoldSettings
from tests.conftest import RouterFactory, lc_url
from tests.peers import (
    Csms,
    GatedCsms,
    RunningChargePoint,
    connect_charge_point,
    upgrade_request,
    wait_until,
)

pytestmark = pytest.mark.timeout(90)

PASSWORD = "0123456789abcdef0123"  # A00.FR.205: 16 to 40 characters
WRONG = "fedcba9876543210fedc"


def _open_at_csms(csms: Csms, identity: str) -> list[ServerConnection]:
    return [
        recorder.ws
        for recorder in csms.history.get(identity, [])
        if isinstance(recorder.ws, ServerConnection) and recorder.ws.state is State.OPEN
    ]


@contextlib.asynccontextmanager
async def _refusing_csms(port: int, answer: bytes | None) -> AsyncIterator[None]:
    """A CSMS at `port` that reads each handshake and answers `answer` (None: never)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            if answer is None:
                await reader.read()  # until the LC gives up and closes
            else:
                writer.write(answer)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


async def _refused_status(url: str, identity: str, password: str | None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await connect_charge_point(url, identity, "ocpp2.0.1", password)
    return refused.value.response.status_code


async def _still_served(live: RunningChargePoint, csms: Csms, identity: str) -> None:
    """The live charger's calls still reach the CSMS over its one CSMS link, and come back."""
    before = len(csms.received(identity))
    assert (await live.cp.call(call201.Heartbeat())).current_time
    assert len(csms.received(identity)) == before + 1
    assert live.ws.state is State.OPEN


async def test_a_wrong_password_for_a_connected_identity_leaves_that_charger_connected(
    make_router: RouterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="router")
    csms = Csms(passwords={"CP1": PASSWORD})
    await csms.start()
    try:
        router = await make_router(csms.url)
        live = await connect_charge_point(lc_url(router), "CP1", "ocpp2.0.1", PASSWORD)
        try:
            assert (await live.cp.boot()).status == "Accepted"
            for password in (WRONG, None, WRONG):
                assert await _refused_status(lc_url(router), "CP1", password) == 401
                await _still_served(live, csms, "CP1")
            assert len(_open_at_csms(csms, "CP1")) == 1
            assert list(router.connected()) == ["CP1"]
            assert not any(isinstance(event, ev.ChargerDisconnected) for event in router.observed)
            # One line for the source address, not one per refusal.
            refused = [r for r in caplog.records if "CSMS refused" in r.getMessage()]
            assert len(refused) == 1
            assert (
                "CP1: CSMS refused: http_401 -> HTTP 401 (from 127.0.0.1)"
                in refused[0].getMessage()
            )
        finally:
            await live.close()
    finally:
        await csms.stop()


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404),
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 403),
        (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", 500),
        (None, 504),  # the CSMS does not answer the handshake in time
    ],
)
async def test_a_new_dial_the_csms_refuses_leaves_the_connected_charger_alone(
    make_router: RouterFactory, answer: bytes | None, status: int
) -> None:
    csms = Csms()
    await csms.start()
    router = await make_router(csms.url, connect_timeout_s=0.5)
    live = await connect_charge_point(lc_url(router), "CP1", "ocpp2.0.1")
    try:
        assert (await live.cp.boot()).status == "Accepted"
        # The CSMS stops taking connections (those it has stay up), and another server on its
        # port refuses the next dial.
        assert csms.server is not None
        csms.server.close(close_connections=False)
        async with _refusing_csms(csms.port, answer):
            assert await _refused_status(lc_url(router), "CP1", None) == status
            await _still_served(live, csms, "CP1")
        assert list(router.connected()) == ["CP1"]
    finally:
        await live.close()
        await csms.stop()


async def test_concurrent_handshakes_for_one_identity_leave_one_pair_the_last_accepted(
    make_router: RouterFactory,
) -> None:
    csms = Csms(passwords={"CP1": PASSWORD})
    await csms.start()
    router = await make_router(csms.url)
    observed: list[ev.Event] = router.observed

    async def attempt(n: int) -> RunningChargePoint | int:
        try:
            return await connect_charge_point(
                lc_url(router), "CP1", "ocpp1.6", PASSWORD if n % 2 else WRONG
            )
        except InvalidStatus as refused:
            return refused.response.status_code

    results = await asyncio.gather(*(attempt(n) for n in range(20)))
    accepted = [result for result in results if isinstance(result, RunningChargePoint)]
    try:
        assert sorted(result for result in results if isinstance(result, int)) == [401] * 10
        assert len(accepted) == 10
        await wait_until(
            lambda: sum(cp.ws.state is State.OPEN for cp in accepted) == 1,
            10,
            "the replaced chargers to be closed",
        )
        await wait_until(lambda: len(_open_at_csms(csms, "CP1")) == 1, 10, "one CSMS link")
        (survivor,) = [cp for cp in accepted if cp.ws.state is State.OPEN]
        (upstream,) = [rec for rec in csms.history["CP1"] if rec.ws.state is State.OPEN]
        # Pairs ran one after the other, never two at once; the last one connected remains.
        kinds = [
            type(event)
            for event in observed
            if isinstance(event, ev.ChargerConnected | ev.ChargerDisconnected)
        ]
        assert kinds == [ev.ChargerConnected, ev.ChargerDisconnected] * 9 + [ev.ChargerConnected]
        for replaced in accepted:
            if replaced is not survivor:
                assert replaced.ws.close_code == 1001
        assert (await survivor.cp.call(call16.Heartbeat())).current_time
        assert '"Heartbeat"' in upstream.received[-1]
        assert list(router.connected()) == ["CP1"]

        await router.stop()
        await wait_until(lambda: not _open_at_csms(csms, "CP1"), 10, "no CSMS link left open")
    finally:
        for cp in accepted:
            await cp.close()
        await csms.stop()


async def test_a_charger_gone_before_its_upgrade_leaves_no_csms_link_and_no_traceback(
    tmp_path: Path,
    gated_csms: GatedCsms,
    make_router: RouterFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    csms = gated_csms
    caplog.set_level(logging.INFO)
    router = await make_router(csms.url, hold=HoldSettings(tmp_path / "journal.sqlite"))
    assert router.port is not None
    _reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    writer.write(upgrade_request(router.port, "/ocpp/GONE"))
    await wait_until(lambda: csms.arrivals == 1, 10, "the handshake at the CSMS")
    # The charger resets its connection while the LC waits for the CSMS.
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    csms.release.set()
    await wait_until(lambda: "GONE" in csms.history, 10, "the CSMS to accept")
    await wait_until(lambda: not _open_at_csms(csms, "GONE"), 10, "the CSMS link closed")
    assert router.connected() == {}
    # Credentials are hashed only for a charger that is connected.
    journal = router.journal
    assert isinstance(journal, Journal)
    assert await journal.admit("GONE", None) is None
    assert not [record for record in caplog.records if record.exc_info]
    assert "GONE: the charger left during its handshake" in caplog.text
    charger = await connect_charge_point(lc_url(router), "CP1", "ocpp1.6")  # others work
    await charger.close()


async def test_stopping_during_a_handshake_ends_it_and_leaves_no_csms_link(
    gated_csms: GatedCsms, make_router: RouterFactory
) -> None:
    csms = gated_csms
    router = await make_router(csms.url, connect_timeout_s=60)
    handshake = asyncio.create_task(connect_charge_point(lc_url(router), "LATE", "ocpp1.6"))
    await wait_until(lambda: csms.arrivals == 1, 10, "the handshake at the CSMS")
    # Bounded well below the dial's 60 s: the LC does not wait for the CSMS to answer.
    await asyncio.wait_for(router.stop(), 20)
    csms.release.set()
    with pytest.raises(InvalidHandshake):  # no answer, or a refusal: not accepted
        await asyncio.wait_for(handshake, 20)
    await wait_until(lambda: not _open_at_csms(csms, "LATE"), 10, "no CSMS link left open")
