"""Fuzzing a running LC over real sockets: hypothesis draws OCPP-J frames (random JSON shapes,
wrong types, huge numbers, unicode, random actions, valid-ish payloads with a leaf changed)
and raw WebSocket frames (random opcodes, fragments, masks, lengths that lie). Whatever a
charger sends, the LC logs no error and a well-behaved bystander never misses an answer.

One LC and one bystander serve all examples of a test; each example is a fresh connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.v201 import call as call201
from websockets.typing import Subprotocol

from router.admission import AdmissionSettings
from router.server import Router
from tests.conftest import RouterFactory, lc_url
from tests.peers import Csms, RunningChargePoint, connect_charge_point
from tests.raw_ws import CLOSE, CONTINUATION, PING, PONG, TEXT, connect_raw, frame

pytestmark = pytest.mark.timeout(300)

TS = "2026-11-25T10:00:00Z"
# Loggers of the LC itself (the CSMS peer's `ocpp` logger reports the fuzz it is sent).
LC_LOGGERS = ("router", "aiohttp", "asyncio")
FUZZ_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Lc:
    """The LC under fuzz, its bystander, and the bystander's answers so far."""

    def __init__(
        self, router: Router, bystander: RunningChargePoint, caplog: pytest.LogCaptureFixture
    ) -> None:
        self.router = router
        self.bystander = bystander
        self.caplog = caplog
        self.asked = self.answered = 0

    async def check(self) -> None:
        """The LC logged no error and still answers the bystander."""
        errors = [
            record.getMessage()
            for record in self.caplog.records
            if record.levelno >= logging.ERROR and record.name.startswith(LC_LOGGERS)
        ]
        assert errors == []
        self.asked += 1
        await asyncio.wait_for(self.bystander.cp.call(call201.Heartbeat()), 30)
        self.answered += 1


@pytest.fixture
async def lc(
    csms: Csms, make_router: RouterFactory, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Lc]:
    caplog.set_level(logging.WARNING)
    # A small frame timeout: frames whose length lies end their link soon. Every example is a
    # new connection from 127.0.0.1: the per-address handshake rate is not under test here.
    unlimited = AdmissionSettings(per_source_rate=1e6, per_source_burst=1_000_000)
    router = await make_router(csms.url, frame_timeout_s=0.5, admission=unlimited)
    bystander = await connect_charge_point(lc_url(router), "CALM", "ocpp2.0.1")
    under_fuzz = Lc(router, bystander, caplog)
    yield under_fuzz
    await bystander.close()
    assert under_fuzz.answered == under_fuzz.asked


# -- OCPP-J frames ------------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # UTF-8 encodable
_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 309, 400, -400, 2**63, 1e308, 5e-324]),
)
_JSON = st.recursive(
    st.none() | st.booleans() | _NUMBERS | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=10,
)


# A value to be written as lists nested this deep, up to beyond what json.loads reads (~1000).
_DEEP = "deeply nested lists: "
_DEEP_LISTS = st.integers(1, 1100).map(lambda depth: f"{_DEEP}{depth}")
_ACTIONS = st.sampled_from(
    [
        "BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "Authorize",
        "TransactionEvent", "StartTransaction", "StopTransaction", "DataTransfer",
        "SecurityEventNotification", "NotifyReport", "FirmwareStatusNotification",
    ]
) | _TEXT  # fmt: skip

_SAMPLE = {"value": 16.0, "measurand": "Current.Import", "phase": "L1"}
_VALID_ISH: list[tuple[str, dict[str, Any]]] = [
    ("Heartbeat", {}),
    (
        "BootNotification",
        {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"},
    ),
    ("BootNotification", {"chargePointModel": "M", "chargePointVendor": "V"}),
    (
        "StatusNotification",
        {"timestamp": TS, "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
    ),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
    (
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": TS,
                    "sampledValue": [
                        _SAMPLE,
                        {"value": 1.0, "unitOfMeasure": {"unit": "Wh", "multiplier": 0}},
                    ],
                }
            ],
        },
    ),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 5,
            "meterValue": [{"timestamp": TS, "sampledValue": [{"value": "12", "unit": "Wh"}]}],
        },
    ),
    ("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": TS}),
    ("StopTransaction", {"transactionId": 5, "meterStop": 10, "timestamp": TS}),
    (
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": TS,
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "tx1", "chargingState": "Charging"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": TS, "sampledValue": [_SAMPLE]}],
        },
    ),
]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, index))]
    return [path]


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copy


@st.composite
def _valid_ish_call(draw: st.DrawFn) -> str:
    """A payload the schemas accept, or nearly: one leaf (a multiplier, say) changed."""
    action, payload = draw(st.sampled_from(_VALID_ISH))
    leaves = _leaves(payload)
    if bool(leaves) and draw(st.booleans()):
        path = draw(st.sampled_from(leaves))
        numeric = isinstance(_at(payload, path), int | float)
        payload = _replaced(payload, path, draw((_NUMBERS if numeric else _JSON) | _DEEP_LISTS))
    text = json.dumps([2, draw(_TEXT), action, payload])
    # Written, not built: json.dumps itself would exceed the recursion limit.
    return re.sub(f'"{_DEEP}(\\d+)"', lambda m: "[" * int(m[1]) + "]" * int(m[1]), text)


_MESSAGE_IDS = _TEXT | st.integers() | st.none()
_ARRAYS = st.one_of(
    st.tuples(st.just(2), _MESSAGE_IDS, _ACTIONS, _JSON).map(list),
    st.tuples(st.sampled_from([3, 5]), _MESSAGE_IDS, _JSON).map(list),
    st.tuples(st.just(4), _MESSAGE_IDS, _TEXT, _TEXT, _JSON).map(list),
    st.tuples(st.integers(), _MESSAGE_IDS, _ACTIONS, _JSON).map(list),
    st.lists(_JSON, max_size=6),
)
_FRAME_TEXTS = st.one_of(
    _ARRAYS.map(lambda value: json.dumps(value, ensure_ascii=False)),  # NaN, Infinity too
    _valid_ish_call(),  # the deepest path through the LC
    _JSON.map(json.dumps),
    _TEXT,
    st.integers(1, 3000).map(lambda depth: '[2,"d","Heartbeat",{"a":' + "[" * depth),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
)


@settings(FUZZ_SETTINGS, max_examples=200)
@given(
    texts=st.lists(_FRAME_TEXTS, min_size=1, max_size=30),
    version=st.sampled_from(["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]),
)
async def test_fuzzed_ocpp_frames_neither_crash_the_lc_nor_cost_the_bystander_an_answer(
    lc: Lc, texts: list[str], version: str
) -> None:
    ws = await websockets.connect(
        f"{lc_url(lc.router)}/ocpp/FUZZ",
        subprotocols=[Subprotocol(version)],
        open_timeout=10,
        max_size=None,
    )
    marker = f"end-{uuid.uuid4()}"
    try:
        for text in texts:
            await ws.send(text)
        await ws.send(f'[2,"{marker}","Heartbeat",{{}}]')
        # Every frame before the marker was handled once its answer is here (or the link is
        # gone: the LC may close a link, never crash).
        while marker not in str(await asyncio.wait_for(ws.recv(), 30)):
            pass
    except websockets.ConnectionClosed:
        pass
    finally:
        await ws.close()
    await lc.check()


# -- raw WebSocket frames -----------------------------------------------------------------------

_PAYLOADS = st.one_of(
    st.binary(max_size=64),
    _FRAME_TEXTS.map(lambda text: text.encode("utf-8")),
    st.just(b"\xff\xfe invalid utf-8"),
)


@st.composite
def _raw_frame(draw: st.DrawFn) -> bytes:
    payload = draw(_PAYLOADS)
    opcode = draw(st.sampled_from([TEXT, CONTINUATION, PING, PONG, CLOSE]) | st.integers(0, 15))
    mask = draw(st.sampled_from([b"\x11\x22\x33\x44", b"\x00\x00\x00\x00", None]))
    length = draw(
        st.none() | st.integers(0, 200) | st.sampled_from([125, 126, 65535, 65536, 2**31, 2**63])
    )
    return frame(
        opcode,
        payload,
        fin=draw(st.booleans()),
        rsv=draw(st.sampled_from([0, 0, 0, 4, 1, 7])),
        mask=mask,
        declared_length=length,
    )


@settings(FUZZ_SETTINGS, max_examples=400)
@given(frames=st.lists(_raw_frame(), min_size=1, max_size=6))
async def test_fuzzed_websocket_frames_neither_crash_the_lc_nor_cost_the_bystander_an_answer(
    lc: Lc, frames: list[bytes]
) -> None:
    client = await connect_raw(lc.router.port or 0, "/ocpp/RAW")
    try:
        await client.send(b"".join(frames) + frame(TEXT, b'[2,"end","Heartbeat",{}]'))
        client.writer.write_eof()  # then nothing more: the LC reads to the end and closes
        while True:
            await asyncio.wait_for(client.read_frame(), 30)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the LC closed the connection, as it may
    finally:
        await client.close()
    await lc.check()
