"""Bad input from either side: the spec's CALLERROR or a counted drop; nobody else disturbed."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from ocpp.v16 import call as call16
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from router.server import Router
from router.session import SessionSettings
from router.validation import ValidationMode
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, RecordingConnection, connect_charge_point, wait_until

STATUS_WITHOUT_STATUS = (
    '[2,"s1","StatusNotification",{"timestamp":"2026-11-25T10:00:00Z","evseId":1,"connectorId":1}]'
)


async def _charger(router: Router, identity: str, version: str) -> ClientConnection:
    return await websockets.connect(
        f"{lc_url(router)}/ocpp/{identity}",
        subprotocols=[Subprotocol(version)],
        open_timeout=5,
    )


async def _answer(ws: ClientConnection) -> list[object]:
    answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert isinstance(answer, list)
    return answer


async def _nothing_arrives(ws: ClientConnection, within_s: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), within_s)


def _count(router: Router, direction: str, kind: str, rejected: str) -> float:
    value: float = router.metrics.invalid_messages.labels(direction, kind, rejected)._value.get()
    return value


async def test_unroutable_frames_from_a_201_charger_get_the_spec_callerror(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, SessionSettings(max_frame_chars=2048))
    bystander = await connect_charge_point(lc_url(router), "BYSTANDER", "ocpp1.6")
    ws = await _charger(router, "BAD201", "ocpp2.0.1")
    try:
        await ws.send("this is not json")
        assert (await _answer(ws))[:3] == [4, "-1", "RpcFrameworkError"]
        await ws.send('[2, "abc", "Heartbeat", {')  # broken JSON, readable id
        assert (await _answer(ws))[:3] == [4, "abc", "RpcFrameworkError"]
        await ws.send('[2, 17, "Heartbeat", {}]')  # id of the wrong type
        assert (await _answer(ws))[:3] == [4, "-1", "RpcFrameworkError"]
        await ws.send('{"not": "an array"}')
        assert (await _answer(ws))[:3] == [4, "-1", "RpcFrameworkError"]
        await ws.send('[7, "m1", "Heartbeat", {}]')  # unknown message type
        assert (await _answer(ws))[:3] == [4, "m1", "MessageTypeNotSupported"]
        await ws.send('[2, "big", "DataTransfer", {"vendorId": "x", "data": "' + "y" * 3000 + '"}]')
        assert (await _answer(ws))[:3] == [4, "big", "FormatViolation"]
        await ws.send(b"\x00\x01binary")  # OCPP-J is text only: dropped and counted
        await _nothing_arrives(ws)

        # The link survived all of it, and nothing of it reached the CSMS.
        await ws.send('[2,"ok1","Heartbeat",{}]')
        assert (await _answer(ws))[:2] == [3, "ok1"]
        assert csms.connections["BAD201"].received == ['[2,"ok1","Heartbeat",{}]']
        assert (await bystander.cp.boot()).status == "Accepted"

        assert _count(router, "to_csms", "rpc_framework", "true") == 4
        assert _count(router, "to_csms", "message_type", "true") == 1
        assert _count(router, "to_csms", "oversize", "true") == 1
        assert router.metrics.binary_frames_dropped.labels("to_csms")._value.get() == 1
        assert router.metrics.call_errors.labels("RpcFrameworkError", "lc")._value.get() == 4
    finally:
        await ws.close()
        await bystander.close()


async def test_unroutable_frames_from_a_16_charger_use_16_codes(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    ws = await _charger(router, "BAD16", "ocpp1.6")
    try:
        await ws.send("{{{")
        assert (await _answer(ws))[:3] == [4, "-1", "FormationViolation"]
        await ws.send('[7, "m1", "Heartbeat", {}]')  # 1.6 has no MessageTypeNotSupported: dropped
        await _nothing_arrives(ws)
        await ws.send('[2,"ok",  "Heartbeat",{}]')
        assert (await _answer(ws))[:2] == [3, "ok"]
        assert _count(router, "to_csms", "message_type", "true") == 1
    finally:
        await ws.close()


async def test_frame_far_above_the_limit_closes_only_that_link(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, SessionSettings(max_frame_chars=1024))
    bystander = await connect_charge_point(lc_url(router), "BYSTANDER2", "ocpp2.0.1")
    ws = await _charger(router, "FLOOD", "ocpp2.0.1")
    await ws.send('[2,"x","DataTransfer",{"vendorId":"v","data":"' + "z" * 10000 + '"}]')
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    assert (await bystander.cp.boot()).status == "Accepted"
    await bystander.close()


async def test_schema_invalid_payload_observe_relays_and_counts(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    ws = await _charger(router, "INV-OBS", "ocpp2.0.1")
    try:
        await ws.send(STATUS_WITHOUT_STATUS)
        await _answer(ws)  # the CSMS's own answer (its library rejects the payload itself)
        assert csms.connections["INV-OBS"].received == [STATUS_WITHOUT_STATUS]
        assert _count(router, "to_csms", "occurrence", "false") == 1
        await ws.send('[2,"u1","NoSuchAction",{}]')
        answer = await _answer(ws)
        assert answer[:2] == [4, "u1"]  # relayed; the CSMS answered it
        assert csms.connections["INV-OBS"].received[-1] == '[2,"u1","NoSuchAction",{}]'
        assert _count(router, "to_csms", "not_implemented", "false") == 1
    finally:
        await ws.close()


async def test_schema_invalid_payload_strict_is_answered_by_the_lc(
    csms: Csms, make_router: RouterFactory
) -> None:
    strict = SessionSettings(
        validation_to_csms=ValidationMode.STRICT, validation_to_charger=ValidationMode.STRICT
    )
    router = await make_router(csms.url, strict)
    ws = await _charger(router, "INV-STRICT", "ocpp2.0.1")
    try:
        await ws.send(STATUS_WITHOUT_STATUS)
        answer = await _answer(ws)
        assert answer[:3] == [4, "s1", "OccurrenceConstraintViolation"]
        assert "connectorStatus" in str(answer[3])
        await ws.send('[2,"u1","NoSuchAction",{}]')
        assert (await _answer(ws))[:3] == [4, "u1", "NotImplemented"]
        await ws.send('[2,"ok","Heartbeat",{}]')
        assert (await _answer(ws))[:2] == [3, "ok"]
        assert csms.connections["INV-STRICT"].received == ['[2,"ok","Heartbeat",{}]']

        # From the CSMS side: an invalid call is answered to the CSMS, never reaches the charger.
        station = csms.connections["INV-STRICT"]
        await station.ws.send('[2,"r1","Reset",{"type":"Sideways"}]')
        await wait_until(lambda: any('"r1"' in frame for frame in _csms_in(station)), what="reply")
        reply = json.loads(next(f for f in _csms_in(station) if '"r1"' in f))
        assert reply[:3] == [4, "r1", "PropertyConstraintViolation"]
        await _nothing_arrives(ws)
    finally:
        await ws.close()


def _csms_in(station: RecordingConnection) -> list[str]:
    return station.received


async def test_garbage_from_the_csms_is_answered_to_the_csms(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url)
    charger = await connect_charge_point(lc_url(router), "CP-G", "ocpp1.6")
    try:
        await charger.cp.call(call16.Heartbeat())
        station = csms.connections["CP-G"]
        await station.ws.send("garbage")
        await wait_until(lambda: len(station.received) == 2, what="the LC's CALLERROR")
        assert json.loads(station.received[1])[:3] == [4, "-1", "FormationViolation"]
        assert _count(router, "to_charger", "rpc_framework", "true") == 1
        assert (await charger.cp.call(call16.Heartbeat())).current_time
    finally:
        await charger.close()


@pytest.mark.parametrize("control", ["%0D", "%1B", "%7F"])
async def test_an_identity_with_control_characters_is_refused_before_the_csms(
    csms: Csms, make_router: RouterFactory, control: str
) -> None:
    router = await make_router(csms.url)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            f"{lc_url(router)}/ocpp/CP1{control}FORGED",
            subprotocols=[Subprotocol("ocpp1.6")],
        )
    assert refused.value.response.status_code == 400
    assert csms.handshakes == []
    charger = await connect_charge_point(lc_url(router), "CP1", "ocpp1.6")  # others still work
    await charger.close()
