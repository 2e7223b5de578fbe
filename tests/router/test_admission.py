"""Admission before any cost: a device on the site network that floods the charger port with
handshakes or idle sockets reaches neither the CSMS nor the LC's memory, and the chargers keep
being served (the handshake part of hardening).

Real sockets on 127.0.0.1: raw TCP clients for the attacker, PyPI-`ocpp` charge points and CSMS.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from ocpp.v16 import call as call16

from router.admission import AdmissionSettings
from router.server import Router
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, GatedCsms, connect_charge_point, http_status, wait_until
from tests.router.test_tls import PASSWORD, Pki, lc_tls_url

pytestmark = pytest.mark.timeout(60)


def _refusals(router: Router, reason: str) -> float:
    return float(router.metrics.charger_refusals.labels(reason)._value.get())


async def _closed_by_the_lc(reader: asyncio.StreamReader) -> bool:
    """True once the LC closed the socket (EOF or reset); bounded."""
    try:
        return await asyncio.wait_for(reader.read(), 20) == b""
    except ConnectionError:
        return True


async def test_a_source_beyond_its_handshake_rate_gets_429_without_reaching_the_csms(
    csms: Csms, make_router: RouterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="router")
    router = await make_router(
        csms.url, admission=AdmissionSettings(per_source_rate=0.01, per_source_burst=3)
    )
    assert router.port is not None
    statuses = [await http_status(router.port, f"/ocpp/CP{n}") for n in range(8)]
    assert statuses == [101] * 3 + [429] * 5
    assert len(csms.handshakes) == 3
    assert _refusals(router, "source_rate") == 5
    # One line for the source, however often it is refused within the minute.
    refused_lines = [r for r in caplog.records if "refused with HTTP 429" in r.getMessage()]
    assert len(refused_lines) == 1
    assert "127.0.0.1" in refused_lines[0].getMessage()


async def test_handshakes_beyond_those_in_progress_get_503_at_once(
    gated_csms: GatedCsms, make_router: RouterFactory
) -> None:
    csms = gated_csms
    router = await make_router(csms.url, admission=AdmissionSettings(max_in_progress=2))
    assert router.port is not None
    waiting = [asyncio.create_task(http_status(router.port, f"/ocpp/W{n}")) for n in range(2)]
    await wait_until(lambda: csms.arrivals == 2, 10, "two handshakes at the CSMS")
    assert await http_status(router.port, "/ocpp/THIRD") == 503
    assert _refusals(router, "handshakes_in_progress") == 1
    csms.release.set()
    assert await asyncio.gather(*waiting) == [101, 101]
    assert csms.arrivals == 2
    assert await http_status(router.port, "/ocpp/THIRD") == 101  # room again


async def test_csms_dials_beyond_the_bound_wait_and_never_flood_the_csms(
    gated_csms: GatedCsms, make_router: RouterFactory
) -> None:
    csms = gated_csms
    router = await make_router(
        csms.url, max_csms_dials=1, connect_timeout_s=30, handshake_timeout_s=2.0
    )
    assert router.port is not None
    first = asyncio.create_task(http_status(router.port, "/ocpp/FIRST"))
    await wait_until(lambda: csms.arrivals == 1, 10, "the first dial at the CSMS")
    # The second handshake waits for a dial slot: the CSMS never sees it while the first
    # dial is under way, and after handshake_timeout_s the charger gets 503.
    assert await http_status(router.port, "/ocpp/SECOND") == 503
    assert csms.arrivals == 1
    assert _refusals(router, "csms_dials") == 1
    csms.release.set()
    assert await first == 101
    assert await http_status(router.port, "/ocpp/THIRD") == 101


async def test_idle_and_trickling_sockets_are_closed_after_the_handshake_timeout(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, handshake_timeout_s=2.0)
    assert router.port is not None
    charger = await connect_charge_point(lc_url(router), "CP1", "ocpp1.6")
    try:
        idle = [await asyncio.open_connection("127.0.0.1", router.port) for _ in range(5)]
        trickling = [await asyncio.open_connection("127.0.0.1", router.port) for _ in range(3)]
        for _, writer in trickling:  # a request line and part of a header, never finished
            writer.write(b"GET /ocpp/SLOW HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr")
        for reader, _ in idle + trickling:
            assert await _closed_by_the_lc(reader)
        for _, writer in idle + trickling:
            writer.close()
        assert _refusals(router, "handshake_timeout") == 8
        assert csms.handshakes[1:] == []
        # An upgraded charger is not timed out: it is still served.
        assert (await charger.cp.call(call16.Heartbeat())).current_time
    finally:
        await charger.close()


async def test_a_socket_that_never_starts_tls_is_closed_after_the_handshake_timeout(
    csms: Csms, make_router: RouterFactory, tmp_path: Path
) -> None:
    pki = Pki(tmp_path)
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side(), handshake_timeout_s=0.5)
    assert router.port is not None
    # asyncio would wait 60 s for the ClientHello; the LC waits handshake_timeout_s.
    reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
    try:
        assert await _closed_by_the_lc(reader)
    finally:
        writer.close()


async def test_sockets_beyond_max_connections_are_closed_at_once(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, max_connections=3, handshake_timeout_s=60)
    assert router.port is not None
    charger = await connect_charge_point(lc_url(router), "CP1", "ocpp1.6")
    idle = [await asyncio.open_connection("127.0.0.1", router.port) for _ in range(2)]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        assert await _closed_by_the_lc(reader)  # long before the 60 s handshake timeout
        writer.close()
        assert _refusals(router, "max_connections") == 1
        assert (await charger.cp.call(call16.Heartbeat())).current_time
        # An idle socket that goes makes room for a charger.
        idle.pop()[1].close()
        await wait_until(
            lambda: _refusals(router, "max_connections") == 1 and router.open_connections == 2,
            10,
            "the LC to see the idle socket go",
        )
        second = await connect_charge_point(lc_url(router), "CP2", "ocpp1.6")
        await second.close()
    finally:
        for _, writer in idle:
            writer.close()
        await charger.close()


async def test_a_handshake_flood_costs_the_csms_only_the_burst_and_the_bystander_is_served(
    csms: Csms, make_router: RouterFactory
) -> None:
    burst = 20
    router = await make_router(
        csms.url,
        admission=AdmissionSettings(per_source_rate=0.01, per_source_burst=burst),
        max_csms_dials=5,
    )
    assert router.port is not None
    bystander = await connect_charge_point(lc_url(router), "CALM", "ocpp1.6")
    port = router.port
    try:
        flood = asyncio.gather(*(http_status(port, f"/ocpp/FLOOD{n}") for n in range(300)))
        sent = answered = 0
        while not flood.done() and sent < 1000:  # bounded: the flood ends long before
            sent += 1
            if (await bystander.cp.call(call16.Heartbeat())).current_time:
                answered += 1
        statuses = await flood
        assert answered == sent >= 1
        # The bystander's handshake took one token of the burst: the flood had the rest.
        assert statuses.count(101) == burst - 1
        assert set(statuses) == {101, 429}
        assert len(csms.handshakes) == burst
        # Every flood connection the CSMS accepted is gone with its charger: none leaks.
        await wait_until(
            lambda: sum(1 for rec in csms.connections.values() if rec.ws.close_code is None) == 1,
            20,
            "only the bystander's CSMS link to stay open",
        )
    finally:
        await bystander.close()


async def test_tls_handshakes_that_time_out_or_fail_are_counted(
    csms: Csms, make_router: RouterFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncio drops them silently: a device that opens TCP and never completes TLS, or speaks
    plain HTTP to the TLS port, shows in the refusals like any other handshake refused."""
    pki = Pki(tmp_path)
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side(), handshake_timeout_s=0.5)
    assert router.port is not None
    # A charger that does complete TLS is served, and not counted.
    charger = await connect_charge_point(
        lc_tls_url(router), "CP1", "ocpp1.6", PASSWORD, ssl_context=pki.client_context()
    )
    silent_reader, silent = await asyncio.open_connection("127.0.0.1", router.port)
    plain_reader, plain = await asyncio.open_connection("127.0.0.1", router.port)
    plain.write(b"GET /ocpp/CP2 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n")
    try:
        with caplog.at_level(logging.WARNING, logger="router.handshake_refusals"):
            assert await _closed_by_the_lc(plain_reader)
            assert await _closed_by_the_lc(silent_reader)
            await wait_until(
                lambda: _refusals(router, "tls_handshake") == 2,
                what="both unfinished TLS handshakes counted",
            )
        assert (await charger.cp.call(call16.Heartbeat())).current_time
    finally:
        silent.close()
        plain.close()
        await charger.close()
    assert "connection closed before its handshake: tls_handshake" in caplog.text
