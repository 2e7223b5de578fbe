"""The CSMS cannot tell the LC is there: same handshake, same bytes, refusals mirrored."""

from __future__ import annotations

import asyncio
import socket

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, RecordingConnection, basic_auth, connect_charge_point, wait_until


async def _raw(
    url: str, identity: str, subprotocol: str, additional_headers: dict[str, str] | None = None
) -> ClientConnection:
    return await websockets.connect(
        f"{url}/ocpp/{identity}",
        subprotocols=[Subprotocol(subprotocol)],
        open_timeout=5,
        additional_headers=additional_headers,
    )


async def test_csms_sees_the_same_handshake_as_a_direct_connection(
    make_router: RouterFactory,
) -> None:
    csms = Csms(passwords={"CP-direct": "pw", "CP-via": "pw"})
    await csms.start()
    router = await make_router(csms.url)
    try:
        direct = await connect_charge_point(csms.url, "CP-direct", "ocpp2.0.1", password="pw")
        via = await connect_charge_point(lc_url(router), "CP-via", "ocpp2.0.1", password="pw")
        await wait_until(lambda: len(csms.handshakes) == 2, what="both handshakes")
        seen_direct, seen_via = csms.handshakes
        assert seen_via.path == "/ocpp/CP-via" and seen_direct.path == "/ocpp/CP-direct"
        assert seen_via.subprotocol == seen_direct.subprotocol == "ocpp2.0.1"
        assert seen_via.authorization == basic_auth("CP-via", "pw")
        # permessage-deflate (RFC 7692) negotiated on the LC's CSMS link and its charger link
        assert "permessage-deflate" in (seen_via.extensions or "")
        assert via.ws.response is not None
        assert "permessage-deflate" in via.ws.response.headers["Sec-WebSocket-Extensions"]
        assert via.ws.subprotocol == "ocpp2.0.1"
        await direct.close()
        await via.close()
    finally:
        await csms.stop()


async def test_the_csms_link_compresses_only_when_the_charger_asked_to(
    make_router: RouterFactory,
) -> None:
    csms = Csms()
    await csms.start()
    router = await make_router(csms.url)
    try:
        plain = await websockets.connect(
            f"{lc_url(router)}/ocpp/CP-plain",
            subprotocols=[Subprotocol("ocpp2.0.1")],
            compression=None,
            open_timeout=5,
        )
        await wait_until(lambda: len(csms.handshakes) == 1, what="the CSMS link")
        assert csms.handshakes[0].extensions is None
        await plain.close()
    finally:
        await csms.stop()


ODD_FRAMES_UP = [
    '[2,"a1","Heartbeat",{}]',
    '[ 2 ,\t"a2" , "Heartbeat" ,\n{ } ]',
    '[2,"a3","StatusNotification",{"timestamp":"2026-11-25T10:00:00.000Z","connectorId":1,'
    '"evseId":1,"connectorStatus":"Available"}]',
    '[2,"a4","MeterValues",{"meterValue":[{"sampledValue":[{"value":1.50},{"value":2E3},'
    '{"value":-0.0},{"value":1.000000000000000000001}],"timestamp":"2026-11-25T10:00:00Z"}],'
    '"evseId":1}]',
    '[2,"a5","DataTransfer",{"vendorId":"Ünïcødé ✓ \\u00e9 \\ud83d\\ude00","data":"x"}]',
]
ODD_FRAMES_DOWN = [
    '[2,"c1","SetChargingProfile",{"evseId":1,"chargingProfile":{"id":3,"stackLevel":0,'
    '"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Relative",'
    '"chargingSchedule":[{"id":1,"chargingRateUnit":"A","chargingSchedulePeriod":'
    '[{"startPeriod":0,"limit":1.50}]}]}}]',
    '[2,  "c2","Reset",  {"type":"Immediate"}   ]',
]


async def test_frames_are_relayed_byte_for_byte_both_ways(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    charger = await _raw(lc_url(router), "CP-odd", "ocpp2.0.1")
    try:
        for frame in ODD_FRAMES_UP:
            await charger.send(frame)
        station = await _wait_station(csms, "CP-odd")
        await wait_until(lambda: len(station.received) == len(ODD_FRAMES_UP), what="frames up")
        assert station.received == ODD_FRAMES_UP
        answers = [await charger.recv() for _ in ODD_FRAMES_UP]
        assert answers == station.sent[: len(ODD_FRAMES_UP)]

        for frame in ODD_FRAMES_DOWN:
            await station.ws.send(frame)
        got = [await asyncio.wait_for(charger.recv(), 5) for _ in ODD_FRAMES_DOWN]
        assert got == ODD_FRAMES_DOWN
    finally:
        await charger.close()


async def test_ocpp21_frames_pass_through(csms: Csms, make_router: RouterFactory) -> None:
    router = await make_router(csms.url)
    charger = await _raw(lc_url(router), "CP-21", "ocpp2.1")
    assert charger.subprotocol == "ocpp2.1"
    frames = [
        '[2,"b1","Heartbeat",{}]',
        '[6,"b2","NotifyPeriodicEventStream",{"id":1,"pending":0,"basetime":'
        '"2026-11-25T10:00:00Z","data":[{"t":0.5,"v":"230.1"}]}]',
    ]
    try:
        for frame in frames:
            await charger.send(frame)
        station = await _wait_station(csms, "CP-21")
        await wait_until(lambda: len(station.received) == 2, what="2.1 frames")
        assert station.received == frames
        assert (
            router.metrics.invalid_messages.labels("to_csms", "message_type", "true")._value.get()
            == 0
        )
    finally:
        await charger.close()


async def _wait_station(csms: Csms, identity: str) -> RecordingConnection:
    await wait_until(lambda: identity in csms.connections, what=f"{identity} at the CSMS")
    return csms.connections[identity]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_csms_refusals_are_mirrored_to_the_charger(make_router: RouterFactory) -> None:
    csms = Csms(passwords={"CP1": "right"})
    await csms.start()
    router = await make_router(csms.url)
    try:
        with pytest.raises(websockets.InvalidStatus) as wrong_password:
            await _raw(
                lc_url(router),
                "CP1",
                "ocpp1.6",
                additional_headers={"Authorization": basic_auth("CP1", "wrong")},
            )
        assert wrong_password.value.response.status_code == 401
        assert wrong_password.value.response.headers["WWW-Authenticate"] == 'Basic realm="csms"'

        with pytest.raises(websockets.InvalidStatus) as unknown_path:
            await websockets.connect(
                f"{lc_url(router)}/elsewhere/CP1",
                subprotocols=[Subprotocol("ocpp1.6")],
                open_timeout=5,
            )
        assert unknown_path.value.response.status_code == 404

        ok = await _raw(
            lc_url(router),
            "CP1",
            "ocpp1.6",
            additional_headers={"Authorization": basic_auth("CP1", "right")},
        )
        await ok.close()
        failures = router.metrics.upstream_connect_failures
        assert failures.labels("http_401")._value.get() == 1
        assert failures.labels("http_404")._value.get() == 1
    finally:
        await csms.stop()


async def test_charger_is_refused_while_csms_is_down_and_admitted_once_it_is_up(
    make_router: RouterFactory,
) -> None:
    port = _free_port()
    router = await make_router(f"ws://127.0.0.1:{port}")
    with pytest.raises(websockets.InvalidStatus) as down:
        await _raw(lc_url(router), "CP2", "ocpp1.6")
    assert down.value.response.status_code == 502
    assert router.metrics.upstream_connect_failures.labels("unreachable")._value.get() == 1

    csms = Csms()
    await csms.start(port)
    try:
        charger = await connect_charge_point(lc_url(router), "CP2", "ocpp1.6")
        assert (await charger.cp.boot()).status == "Accepted"
        await charger.close()
    finally:
        await csms.stop()


async def test_no_common_subprotocol_is_mirrored(make_router: RouterFactory) -> None:
    csms = Csms(subprotocols=("ocpp2.0.1",))  # websockets refuses a 1.6 charger with HTTP 400
    await csms.start()
    router = await make_router(csms.url)
    try:
        with pytest.raises(websockets.InvalidStatus) as direct:
            await _raw(csms.url, "CP3", "ocpp1.6")
        with pytest.raises(websockets.InvalidStatus) as via:
            await _raw(lc_url(router), "CP3", "ocpp1.6")
        assert via.value.response.status_code == direct.value.response.status_code == 400
    finally:
        await csms.stop()


async def test_csms_accepting_without_subprotocol_is_mirrored(make_router: RouterFactory) -> None:
    async def accept_then_close(ws: websockets.ServerConnection) -> None:
        await ws.close()

    # Part 4 §3.2: a CSMS that agrees to no offered subprotocol completes the handshake without
    # one and closes at once; the charger must see exactly that.
    server = await websockets.serve(
        accept_then_close, "127.0.0.1", 0, select_subprotocol=lambda _conn, _offered: None
    )
    port = server.sockets[0].getsockname()[1]
    router = await make_router(f"ws://127.0.0.1:{port}")
    try:
        charger = await _raw(lc_url(router), "CP3", "ocpp1.6")
        assert charger.subprotocol is None
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(charger.recv(), 5)
    finally:
        server.close()
        await server.wait_closed()


async def test_second_connection_with_same_identity_replaces_the_first(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    first = await connect_charge_point(lc_url(router), "CP4", "ocpp2.0.1")
    assert (await first.cp.boot()).status == "Accepted"
    first_upstream = csms.connections["CP4"]
    second = await connect_charge_point(lc_url(router), "CP4", "ocpp2.0.1")
    try:
        await asyncio.wait_for(first.ws.wait_closed(), 5)
        await asyncio.wait_for(first_upstream.ws.wait_closed(), 5)
        assert (await second.cp.boot()).status == "Accepted"
        assert csms.connections["CP4"] is not first_upstream
        assert list(router.connected()) == ["CP4"]
    finally:
        await second.close()
        await first.close()
