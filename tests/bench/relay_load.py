"""Relay benchmark pieces: a fake CSMS, four Python relays (bare, raw, lean, sansio), a charger
load generator, and runners for the hops.

Each piece runs in a process of its own, on 127.0.0.1:

    python -m tests.bench.relay_load csms --port PORT [--deflate]
    python -m tests.bench.relay_load bare --port PORT --upstream CSMS_PORT
    python -m tests.bench.relay_load raw --port PORT --upstream CSMS_PORT
    python -m tests.bench.relay_load lean --port PORT --upstream CSMS_PORT
    python -m tests.bench.relay_load sansio --port PORT --upstream CSMS_PORT
    python -m tests.bench.relay_load client --url ws://127.0.0.1:PORT --chargers N
        [--rate CALLS_PER_S | --idle SECONDS] [--warmup S] [--duration S] [--pid NAME=PID ...]

The fake CSMS answers every CALL with an empty CALLRESULT (`{}`, schema-valid for both
TransactionEvent and MeterValues) and slices the message id out of the frame instead of
parsing JSON, so it costs as little as possible. The bare relay is the LC's stack (aiohttp,
uvloop) relaying text and nothing else: the floor under any hop on that stack. The raw relay is
the leanest Python design: asyncio Protocols on uvloop, no task switch per frame; the read
callback writes each frame through verbatim, then unmasks and decodes its text, the least any
relay that observes OCPP does. The lean relay is the raw relay that, after writing each text
message through, runs the LC's own OCPP work on it (its sans-I/O `LinkSession` routing,
schema checks and observation, and its metrics). The sansio relay is the same design made a
real WebSocket endpoint on both sides: its asyncio Protocols drive websockets' sans-I/O
protocol objects (ServerProtocol to the charger, ClientProtocol to the CSMS), which do the
handshakes, limits, pings and closes; the read callback decodes each text frame and re-frames
it to the other side, as a relay that may rewrite OCPP must. The client opens N charger
connections (subprotocol ocpp2.0.1), sends OCPP 2.0.1 CALLs closed-loop (one outstanding per
charger) or paced (Poisson at an aggregate rate), checks every answer's id, and prints one
JSON line: round trips/s, latency percentiles, and CPU and RSS of the processes named with
`--pid`.

The runners (`start_csms`, `start_python_relay`, `start_nginx`, `start_lc`, `run_client`) start
those processes, the nginx hop and the Local Controller (`python -m lc run --config FILE`) for
the benchmark test, and stop them again.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiohttp import WSMsgType, web
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidURI
from websockets.frames import CLOSE, CONT, TEXT, Close, CloseCode, Frame
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response
from websockets.protocol import CONNECTING, OPEN, Event
from websockets.server import ServerProtocol
from websockets.speedups import apply_mask
from websockets.typing import BytesLike, Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from router.frames import OcppVersion
from router.metrics import RouterMetrics
from router.outputs import Output, Relayed
from router.schemas import SchemaRegistry, default_registry
from router.session import LinkSession, SessionSettings

REPO = Path(__file__).resolve().parents[2]
SUBPROTOCOL = "ocpp2.0.1"
CONNECT_CONCURRENCY = 50
CONNECT_BUDGET_S = 90.0  # all chargers must be connected by then
DRAIN_S = 15.0  # after the window: answers still outstanding must arrive by then
CLOSE_S = 15.0
START_S = 30.0  # a started process must listen by then
STOP_S = 10.0  # then it is killed
CLK_TCK = os.sysconf("SC_CLK_TCK")

# -- frames ------------------------------------------------------------------------------------

_TIMESTAMP = "2025-06-01T12:00:00.000Z"
_ENERGY = {"value": 15432.8, "measurand": "Energy.Active.Import.Register"}


def transaction_event(charger: int) -> dict[str, Any]:
    """A periodic TransactionEvent (Updated) with a meter reading: ~300 B of JSON."""
    return {
        "eventType": "Updated",
        "timestamp": _TIMESTAMP,
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 42,
        "transactionInfo": {"transactionId": f"TX-{charger:06d}", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": _TIMESTAMP, "sampledValue": [_ENERGY]}],
    }


def meter_values(charger: int) -> dict[str, Any]:
    """MeterValues with energy, power and two phase currents: ~300 B of JSON."""
    samples = [
        _ENERGY,
        {"value": 7361.5, "measurand": "Power.Active.Import"},
        {"value": 32.1, "measurand": "Current.Import", "phase": "L1"},
        {"value": 31.8, "measurand": "Current.Import", "phase": "L2"},
    ]
    return {"evseId": 1, "meterValue": [{"timestamp": _TIMESTAMP, "sampledValue": samples}]}


PAYLOADS = {"TransactionEvent": transaction_event, "MeterValues": meter_values}
CALL_RESULT = "{}"  # the CSMS's answer payload to both actions


def message_id(charger: int, seq: int) -> str:
    """A unique, UUID-shaped 36-character id."""
    return f"{charger:08x}-0000-4000-8000-{seq:012x}"


def call_frame_tail(action: str, charger: int) -> str:
    """Everything of a CALL frame after its id: `'[2,"' + id + tail` is the frame."""
    payload = json.dumps(PAYLOADS[action](charger), separators=(",", ":"))
    return f'","{action}",{payload}]'


# -- processes (procfs) ------------------------------------------------------------------------


# Sockets a piece may open: 10,000 chargers are 20,000 sockets in a hop.
OPEN_FILES = 1 << 16


def raise_nofile_limit() -> None:
    """Lift the open-files limits to OPEN_FILES, the hard one too where that is allowed (root),
    else the soft one to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(OPEN_FILES, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_files_limit() -> int:
    """The open files a process started by this one may have: its hard limit, at most
    OPEN_FILES (a container without CAP_SYS_RESOURCE keeps its own cap)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores, all processes, interrupts)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [int(child) for child in path.read_text().split()]
    return []


def maps_mention(pid: int, text: str) -> bool:
    """Whether a shared object whose path contains `text` is loaded in the process."""
    with contextlib.suppress(OSError):
        return text in Path(f"/proc/{pid}/maps").read_text()
    return False


# -- fake CSMS ---------------------------------------------------------------------------------


def _answer(frame: str) -> str | None:
    """The CALLRESULT for a CALL frame, id sliced out without parsing JSON."""
    if not frame.startswith("[2"):
        return None
    start = frame.index('"') + 1
    return f'[3,"{frame[start : frame.index(chr(34), start)]}",{CALL_RESULT}]'


def csms_app(deflate: bool) -> web.Application:
    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("ocpp2.0.1", "ocpp1.6"), compress=deflate)
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                answer = _answer(message.data)
                if answer is not None:
                    await ws.send_str(answer)
        return ws

    app = web.Application()
    app.router.add_get("/{path:.*}", handle)
    return app


# -- bare relay --------------------------------------------------------------------------------


def bare_relay_app(upstream: str) -> web.Application:
    """The least a Python relay on the LC's stack can do: aiohttp on uvloop, one upstream link
    per charger, text frames pumped both ways with no parsing, no checks, no metrics. What it
    adds over a direct connection is the floor under the LC's own figures."""

    async def pump(source: Any, sink: Any) -> None:
        async for message in source:
            if message.type is WSMsgType.TEXT:
                await sink.send_str(message.data)

    async def handle(request: web.Request) -> web.WebSocketResponse:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        session: aiohttp.ClientSession = request.app["session"]
        csms = await session.ws_connect(f"{upstream}{request.path}", protocols=offered, compress=0)
        charger = web.WebSocketResponse(protocols=[csms.protocol] if csms.protocol else ())
        await charger.prepare(request)
        pumps = [asyncio.create_task(pump(charger, csms)), asyncio.create_task(pump(csms, charger))]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        await asyncio.gather(charger.close(), csms.close(), return_exceptions=True)
        return charger

    async def open_session(app: web.Application) -> Any:
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app["session"].close()

    app = web.Application()
    app.cleanup_ctx.append(open_session)
    app.router.add_get("/{path:.*}", handle)
    return app


async def serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    await _until_sigterm()
    await runner.cleanup()


async def _until_sigterm() -> None:
    """Tell the runner the piece listens, then wait for its stop."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()


# -- raw relay ---------------------------------------------------------------------------------

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HTTP_HEAD = 16 * 1024  # a side whose upgrade head is longer is dropped
OPCODE_CONTINUATION, OPCODE_TEXT, OPCODE_CLOSE = 0x0, 0x1, 0x8


def _accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()


def _split_head(buffer: bytearray) -> tuple[list[str], dict[str, str], bytes] | None:
    """An HTTP head's first line (split on spaces), its headers (lower-case names, repeated ones
    joined by ", ") and the bytes after it; None while the head is incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    first, *lines = buffer[:end].decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return first.split(" ", 2), headers, bytes(buffer[end + 4 :])


class _Spliced(asyncio.Protocol):
    """One of the two TCP connections of a relayed charger, the charger's or the relay's to the
    CSMS; `peer` is the other. Frames are read here and relayed to the peer by a subclass."""

    transport: asyncio.Transport

    def __init__(self) -> None:
        self.peer: _Spliced | None = None
        self.relaying = False  # both upgrades are done: frames flow
        self.message: bytearray | None = None  # a fragmented text message's payload so far

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.hang_up()

    def hang_up(self) -> None:
        """The peer's connection is gone: so goes this one."""
        self.transport.close()

    def join(self, charger: _Spliced) -> bool:
        """Pair this CSMS side, just connected, with its charger; False (and closed) if the
        charger left while it connected."""
        if charger.transport.is_closing():
            self.transport.close()
            return False
        charger.peer = self
        return True

    # The peer's frames are written here: while this side's send buffer is full, stop reading
    # them, so a slow side cannot make the relay buffer without bound.
    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.transport.resume_reading()

    def observe(self, opcode: int, final: bool, payload: BytesLike) -> bool:
        """Decode a text message as UTF-8 and hand it to `text_received`: the least a relay
        that reads OCPP does. False if it is not UTF-8."""
        if opcode == OPCODE_TEXT and not final:
            self.message = bytearray(payload)
            return True
        text = payload
        if opcode == OPCODE_CONTINUATION:
            assert self.message is not None
            self.message += payload
            if not final:
                return True
            text, self.message = self.message, None
        try:
            decoded = str(text, "utf-8")
        except UnicodeDecodeError:
            return False
        self.text_received(decoded)
        return True

    def text_received(self, text: str) -> None:
        """A whole text message, already written to the peer; the raw relay drops it."""


class _RelaySide(_Spliced):
    """One of the two TCP connections of a raw-relayed charger. After the upgrade, each complete
    WebSocket frame read here is written verbatim to the peer, then observed: text is unmasked
    and decoded as UTF-8. All in the read callback: no task."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = bytearray()  # the HTTP head, then an incomplete frame
        self.awaiting = 0  # the length `pending` must reach before its frame can be complete

    def handshake(self) -> None:
        """Act on `pending`, the HTTP head read so far."""
        raise NotImplementedError

    def data_received(self, data: bytes) -> None:
        if not self.relaying:
            self.pending += data
            if len(self.pending) > MAX_HTTP_HEAD:
                self.transport.close()
            else:
                self.handshake()
            return
        if self.pending:
            self.pending += data
            if len(self.pending) < self.awaiting:
                return
            data = bytes(self.pending)
            self.pending.clear()
        self.relay(data)

    def start_relaying(self) -> None:
        """Relay from now on, starting with the frames that came with the HTTP head."""
        self.relaying = True
        if self.pending:
            data = bytes(self.pending)
            self.pending.clear()
            self.relay(data)

    def relay(self, data: bytes) -> None:
        """Write each complete frame of `data` to the peer and observe it; keep the rest."""
        assert self.peer is not None
        sink = self.peer.transport
        if sink.is_closing():  # the peer is going, its connection_lost yet to run: so does this
            self.transport.close()
            return
        position, size = 0, len(data)
        while True:
            available = size - position
            if available < 2:
                self.awaiting = 2
                break
            second = data[position + 1]
            length = second & 0x7F
            header = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            if second & 0x80:  # masked: a 4-byte key follows the length
                header += 4
            if available < header:
                self.awaiting = header
                break
            if length == 126:
                length = int.from_bytes(data[position + 2 : position + 4], "big")
            elif length == 127:
                length = int.from_bytes(data[position + 2 : position + 10], "big")
            end = position + header + length
            if end > size:
                self.awaiting = header + length
                break
            sink.write(data if position == 0 and end == size else data[position:end])
            first = data[position]
            opcode = first & 0x0F
            if opcode == OPCODE_CLOSE:
                self.transport.close()
                sink.close()
                return
            if opcode == OPCODE_TEXT or (
                opcode == OPCODE_CONTINUATION and self.message is not None
            ):
                payload = data[position + header : end]
                if second & 0x80:
                    payload = apply_mask(payload, data[position + header - 4 : position + header])
                if not self.observe(opcode, bool(first & 0x80), payload):
                    self.transport.close()  # invalid UTF-8 fails the connection (RFC 6455 §8.1)
                    return
            position = end
        if position < size:
            self.pending += memoryview(data)[position:]


class _ChargerSide(_RelaySide):
    """A charger's connection: its upgrade request opens a connection to the CSMS, and the
    CSMS's answer to the same upgrade is the charger's."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self.key = ""
        self.connecting: asyncio.Task[None] | None = None  # held: the loop holds tasks weakly

    def handshake(self) -> None:
        head = _split_head(self.pending)
        if head is None:
            return
        request_line, headers, rest = head
        self.key = headers.get("sec-websocket-key", "")
        upgrade = headers.get("upgrade", "").lower() == "websocket"
        if len(request_line) != 3 or request_line[0] != "GET" or not upgrade or not self.key:
            self.refuse("400 Bad Request")
            return
        self.pending = bytearray(rest)
        self.transport.pause_reading()  # nothing more to read until the CSMS has answered
        offered = headers.get("sec-websocket-protocol")
        self.connecting = asyncio.get_running_loop().create_task(
            self.connect(request_line[1], offered)
        )

    async def connect(self, path: str, offered: str | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(
                lambda: self.csms_side(path, offered), "127.0.0.1", self.upstream_port
            )
        except OSError:
            self.refuse("502 Bad Gateway")

    def csms_side(self, path: str, offered: str | None) -> _CsmsSide:
        return _CsmsSide(self, path, offered)

    def accept(self, protocol: str | None) -> None:
        """The CSMS accepted the upgrade: so does the relay, with the CSMS's subprotocol."""
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {_accept_key(self.key)}",
        ]
        if protocol:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.transport.resume_reading()
        self.start_relaying()

    def refuse(self, status: str) -> None:
        if not self.transport.is_closing():
            self.transport.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
            self.transport.close()


class _CsmsSide(_RelaySide):
    """The relay's connection to the CSMS for one charger: the charger's upgrade, replayed."""

    def __init__(self, charger: _ChargerSide, path: str, offered: str | None) -> None:
        super().__init__()
        self.charger = self.peer = charger
        self.path = path
        self.offered = offered
        self.key = base64.b64encode(os.urandom(16)).decode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self.join(self.charger):
            return
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.charger.upstream_port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.offered:
            lines.append(f"Sec-WebSocket-Protocol: {self.offered}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.relaying:
            super().connection_lost(exc)
        else:
            self.charger.refuse("502 Bad Gateway")

    def handshake(self) -> None:
        head = _split_head(self.pending)
        if head is None:
            return
        status_line, headers, rest = head
        switched = len(status_line) >= 2 and status_line[1] == "101"
        if not switched or headers.get("sec-websocket-accept") != _accept_key(self.key):
            self.transport.close()  # and connection_lost answers the charger 502
            return
        self.pending = bytearray(rest)
        self.charger.accept(headers.get("sec-websocket-protocol"))
        self.start_relaying()


# -- lean relay: the raw relay doing the LC's OCPP work behind each write -------------------------


class _OcppWork:
    """The LC's sans-I/O work for one relayed charger: its `LinkSession` routes, validates and
    observes every text message (in the LC's OBSERVE mode), and the messages are counted in
    the LC's metrics. What is routed is not used: the frame was written through already."""

    _schemas: SchemaRegistry | None = None
    _metrics: RouterMetrics | None = None

    def __init__(self, path: str, protocol: str | None) -> None:
        if _OcppWork._schemas is None:  # once per process, like the LC
            _OcppWork._schemas, _OcppWork._metrics = default_registry(), RouterMetrics()
        version = OcppVersion.from_subprotocol(protocol) or OcppVersion.V201
        identity = path.rsplit("/", 1)[-1]
        self.session = LinkSession(identity, version, SessionSettings(), _OcppWork._schemas)

    def handle(self, route: Callable[[str, float], list[Output]], text: str) -> None:
        metrics = _OcppWork._metrics
        assert metrics is not None
        started = time.monotonic()
        outputs = route(text, started) + self.session.check_pending()
        for output in outputs:
            if isinstance(output, Relayed):
                metrics.frames.count_message(
                    output.action, output.direction.value, output.message_type
                )
        self.session.next_deadline()  # the LC re-arms its call timer after every frame
        metrics.frames.observe_relay(time.monotonic() - started)


class _LeanChargerSide(_ChargerSide):
    work: _OcppWork | None = None

    def csms_side(self, path: str, offered: str | None) -> _CsmsSide:
        return _LeanCsmsSide(self, path, offered)

    def text_received(self, text: str) -> None:
        assert self.work is not None
        self.work.handle(self.work.session.route_from_charger, text)


class _LeanCsmsSide(_CsmsSide):
    def handshake(self) -> None:
        head = _split_head(self.pending)
        if head is not None:
            protocol = head[1].get("sec-websocket-protocol")
            assert isinstance(self.charger, _LeanChargerSide)
            self.charger.work = _OcppWork(self.path, protocol)
        super().handshake()

    def text_received(self, text: str) -> None:
        assert isinstance(self.charger, _LeanChargerSide) and self.charger.work is not None
        work = self.charger.work
        work.handle(work.session.route_from_csms, text)


async def serve_relay(charger_side: Callable[[], asyncio.Protocol], port: int) -> None:
    """Serve a relay on asyncio Protocols: `charger_side` makes one per accepted charger."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(charger_side, "127.0.0.1", port, backlog=4096)
    await _until_sigterm()
    server.close()


# -- sans-I/O relay ----------------------------------------------------------------------------


class _SansioSide(_Spliced):
    """One of the two TCP connections of a charger relayed through websockets' sans-I/O protocol
    objects: `protocol` parses what is read (handshake, frames, limits; it answers pings and
    closes) and frames what is written. Each text frame read is decoded as UTF-8 and sent on,
    re-framed, with the peer protocol's send_text, as a relay that may rewrite it must. All in
    the read callback: no task."""

    protocol: ServerProtocol | ClientProtocol
    peer: _SansioSide | None

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        events = self.protocol.events_received()
        if self.relaying:
            for frame in cast("list[Frame]", events):
                self.relay(frame)
        else:
            self.handshake(events)
        self.flush()
        if self.peer is not None:
            self.peer.flush()

    def handshake(self, events: list[Event]) -> None:
        """Act on what the protocol read before the upgrades were done."""
        raise NotImplementedError

    def start_relaying(self, frames: list[Event]) -> None:
        """Relay from now on, starting with the frames read with the upgrade."""
        self.relaying = True
        for frame in cast("list[Frame]", frames):
            self.relay(frame)

    def relay(self, frame: Frame) -> None:
        """Send a text frame on to the peer; a close frame closes the peer with the same code.
        The protocol has answered a ping already; OCPP-J sends no binary frame: dropped."""
        assert self.peer is not None
        opcode = frame.opcode
        if opcode is CLOSE:
            self.peer.hang_up(self.protocol.close_rcvd)
        elif opcode is TEXT or (opcode is CONT and self.message is not None):
            sink = self.peer.protocol
            if sink.state is not OPEN:  # the relay is closing the peer: nowhere to send it
                return
            if not self.observe(opcode, frame.fin, frame.data):
                self.protocol.fail(CloseCode.INVALID_DATA, "invalid UTF-8")
                self.peer.hang_up()
            elif opcode is TEXT:
                sink.send_text(frame.data, frame.fin)
            else:
                sink.send_continuation(frame.data, frame.fin)

    def flush(self) -> None:
        """Write what the protocol has to send."""
        self.write(self.protocol.data_to_send())

    def write(self, chunks: list[bytes]) -> None:
        """Write what a protocol had to send; its end of stream closes the connection."""
        for data in chunks:
            if data:
                self.transport.write(data)
            else:
                self.transport.close()

    def hang_up(self, close: Close | None = None) -> None:
        """The peer is gone: send a close frame (the peer's code, if it sent one) and close."""
        if self.transport.is_closing():
            return
        protocol = self.protocol
        if protocol.state is OPEN:
            if close is None:
                protocol.send_close(CloseCode.GOING_AWAY)
            elif close.code == CloseCode.NO_STATUS_RCVD:
                protocol.send_close()
            else:
                protocol.send_close(close.code, close.reason)
            self.flush()
        self.transport.close()


class _SansioCharger(_SansioSide):
    """A charger's connection: its upgrade request, once valid, opens a connection to the CSMS
    with the same path and subprotocols; the charger is accepted when the CSMS accepts."""

    protocol: ServerProtocol

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self.protocol = ServerProtocol()
        self.upstream_port = upstream_port
        self.response: Response | None = None  # the 101 to send once the CSMS has sent its own
        self.early: list[Event] = []  # frames read with the upgrade request
        self.held: list[bytes] = []  # what the protocol sent in answer to them: after the 101
        self.connecting: asyncio.Task[None] | None = None  # held: the loop holds tasks weakly

    def handshake(self, events: list[Event]) -> None:
        if not events:  # the request is incomplete, or invalid: then the protocol refused it
            return
        request, *self.early = events
        assert isinstance(request, Request)
        response = self.protocol.accept(request)
        if response.status_code != 101:
            self.protocol.send_response(response)
            return
        self.response = response
        self.held = self.protocol.data_to_send()
        self.transport.pause_reading()  # nothing more to read until the CSMS has answered
        offered = [
            subprotocol
            for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for subprotocol in parse_subprotocol(header)
        ]
        self.connecting = asyncio.get_running_loop().create_task(
            self.connect(request.path, offered)
        )

    async def connect(self, path: str, offered: list[Subprotocol]) -> None:
        loop = asyncio.get_running_loop()
        try:
            uri = parse_uri(f"ws://127.0.0.1:{self.upstream_port}{path}")
            await loop.create_connection(
                lambda: _SansioCsms(self, uri, offered), "127.0.0.1", self.upstream_port
            )
        except (InvalidURI, OSError):
            self.hang_up()

    def accept(self, subprotocol: Subprotocol | None) -> None:
        """The CSMS accepted the upgrade: so does the relay, with the CSMS's subprotocol."""
        assert self.response is not None
        if subprotocol is not None:
            self.response.headers["Sec-WebSocket-Protocol"] = subprotocol
            self.protocol.subprotocol = subprotocol
        self.protocol.send_response(self.response)
        self.flush()
        self.transport.resume_reading()
        self.write(self.held)
        self.start_relaying(self.early)

    def hang_up(self, close: Close | None = None) -> None:
        if self.protocol.state is CONNECTING and not self.transport.is_closing():
            reason = "Failed to open a WebSocket connection: the CSMS did not accept it.\n"
            self.protocol.send_response(self.protocol.reject(HTTPStatus.BAD_GATEWAY, reason))
            self.flush()  # the response, then the end of the stream: the connection closes
        else:
            super().hang_up(close)


class _SansioCsms(_SansioSide):
    """The relay's connection to the CSMS for one charger."""

    protocol: ClientProtocol

    def __init__(
        self, charger: _SansioCharger, uri: WebSocketURI, offered: list[Subprotocol]
    ) -> None:
        super().__init__()
        self.charger = self.peer = charger
        self.protocol = ClientProtocol(uri, subprotocols=offered or None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self.join(self.charger):
            return
        self.protocol.send_request(self.protocol.connect())
        self.flush()

    def handshake(self, events: list[Event]) -> None:
        # A refused or invalid upgrade ends the stream: the connection closes, and losing it
        # answers the charger 502.
        if events and self.protocol.handshake_exc is None:
            _response, *frames = events
            self.charger.accept(self.protocol.subprotocol)
            self.start_relaying(frames)


# -- load generator ----------------------------------------------------------------------------


@dataclass(slots=True)
class Window:
    """When the load runs (perf_counter seconds): warmup until `start`, measured until `end`."""

    start: float
    end: float
    rate_per_charger: float | None  # None: closed loop


@dataclass(slots=True)
class Tally:
    latencies: list[float] = field(default_factory=list)
    round_trips: int = 0
    mismatches: int = 0
    errors: int = 0


async def _wait_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _charger_load(
    ws: aiohttp.ClientWebSocketResponse,
    charger: int,
    tail: str,
    window: Window,
    tally: Tally,
    rng: random.Random,
) -> None:
    """One charger: send, wait for the answer, check its id; until the window ends."""
    seq = 0
    next_send = time.perf_counter()
    while True:
        if window.rate_per_charger is not None:
            next_send += rng.expovariate(window.rate_per_charger)
            if next_send >= window.end:
                return
            await _wait_until(next_send)
        seq += 1
        expected = message_id(charger, seq)
        sent = time.perf_counter()
        if sent >= window.end:
            return
        await ws.send_str('[2,"' + expected + tail)
        message = await ws.receive()
        answered = time.perf_counter()
        if message.type is not WSMsgType.TEXT or not message.data.startswith('[3,"'):
            tally.errors += 1
            return
        if message.data[4:40] != expected:
            tally.mismatches += 1
        if sent >= window.start and answered <= window.end:
            tally.round_trips += 1
            tally.latencies.append(answered - sent)


async def _idle(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Hold a connection and answer the hop's pings (aiohttp answers them while receiving)."""
    async for _message in ws:
        pass


async def _connect(
    session: aiohttp.ClientSession, url: str, chargers: int, tally: Tally
) -> list[tuple[int, aiohttp.ClientWebSocketResponse]]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(charger: int) -> aiohttp.ClientWebSocketResponse | None:
        async with gate:
            try:
                ws = await session.ws_connect(
                    f"{url}/ocpp/CP{charger:06d}", protocols=(SUBPROTOCOL,), compress=0
                )
            except (aiohttp.ClientError, OSError, TimeoutError):
                tally.errors += 1
                return None
        if ws.protocol != SUBPROTOCOL:
            tally.errors += 1
            await ws.close()
            return None
        return ws

    async with asyncio.timeout(CONNECT_BUDGET_S):
        sockets = await asyncio.gather(*(one(charger) for charger in range(chargers)))
    return [(charger, ws) for charger, ws in enumerate(sockets) if ws is not None]


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


class ProcessSampler:
    """CPU seconds and RSS of named processes (several pids may share a name: summed)."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids

    def cpu(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.pids.items()}

    def rss(self) -> dict[str, int]:
        return {name: sum(rss_kib(pid) for pid in pids) for name, pids in self.pids.items()}


async def _finish(tasks: list[asyncio.Task[None]], tally: Tally) -> None:
    """Wait for every charger task to end; the ones stuck past DRAIN_S count as errors."""
    if not tasks:
        return
    done, stuck = await asyncio.wait(tasks, timeout=DRAIN_S)
    tally.errors += len(stuck) + sum(1 for task in done if task.exception() is not None)
    for task in stuck:
        task.cancel()


async def _close_all(sockets: list[tuple[int, aiohttp.ClientWebSocketResponse]]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_S):
            await asyncio.gather(*(ws.close() for _, ws in sockets), return_exceptions=True)


def _window(args: argparse.Namespace) -> Window:
    begin = time.perf_counter()
    if args.idle is not None:
        return Window(begin, begin + args.idle, None)
    start = begin + args.warmup
    rate = args.rate / args.chargers if args.rate else None
    return Window(start, start + args.duration, rate)


def _load_task(
    args: argparse.Namespace,
    charger: int,
    ws: aiohttp.ClientWebSocketResponse,
    window: Window,
    tally: Tally,
    rng: random.Random,
) -> asyncio.Task[None]:
    if args.idle is not None:
        return asyncio.create_task(_idle(ws))
    tail = call_frame_tail(args.action, charger)
    return asyncio.create_task(_charger_load(ws, charger, tail, window, tally, rng))


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    sampler = ProcessSampler(_parse_pids(args.pid))
    tally = Tally()
    rss_before = sampler.rss()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = await _connect(session, args.url, args.chargers, tally)
        rng = random.Random(args.seed)
        window = _window(args)
        tasks = [_load_task(args, c, ws, window, tally, rng) for c, ws in sockets]
        await _wait_until(window.start)
        cpu_start, busy_start = sampler.cpu(), machine_busy_seconds()
        await _wait_until(window.end)
        cpu_end, busy_end, rss_end = sampler.cpu(), machine_busy_seconds(), sampler.rss()
        if args.idle is not None:
            tally.errors += sum(1 for _, ws in sockets if ws.closed)  # dropped while idle
            await _close_all(sockets)  # ends the idle tasks
        await _finish(tasks, tally)
        await _close_all(sockets)
    return _summary(args, len(sockets), tally, window) | {
        "cpu_s": {name: cpu_end[name] - cpu_start[name] for name in cpu_end},
        "machine_busy_s": busy_end - busy_start,
        "rss_before_kib": rss_before,
        "rss_kib": rss_end,
    }


def _summary(
    args: argparse.Namespace, connected: int, tally: Tally, window: Window
) -> dict[str, Any]:
    seconds = window.end - window.start
    latencies = sorted(tally.latencies)
    mode = "idle" if args.idle is not None else ("paced" if args.rate else "closed")
    return {
        "mode": mode,
        "chargers": args.chargers,
        "connected": connected,
        "errors": tally.errors,
        "mismatches": tally.mismatches,
        "round_trips": tally.round_trips,
        "seconds": seconds,
        "rps": tally.round_trips / seconds,
        "p50_us": _percentile(latencies, 0.50) * 1e6,
        "p99_us": _percentile(latencies, 0.99) * 1e6,
    }


def _parse_pids(specs: list[str]) -> dict[str, list[int]]:
    pids: dict[str, list[int]] = {"client": [os.getpid()]}
    for spec in specs:
        name, _, pid = spec.partition("=")
        pids.setdefault(name, []).append(int(pid))
    return pids


# -- runners (used by the benchmark test) ------------------------------------------------------


@dataclass
class Service:
    """A process the benchmark started, listening on `port`; `pids` are the ones to sample."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    pids: list[int]
    metrics_port: int | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM (a graceful stop for the LC, a fast one for nginx); SIGKILL if that hangs."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            for pid in self.pids:  # nginx workers, which a killed master would leave behind
                if pid != self.process.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait(STOP_S)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            command,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile_limit,
        )


def _wait_listening(process: subprocess.Popen[bytes], ports: list[int], log: Path) -> None:
    deadline = time.monotonic() + START_S
    while not all(_listening(port) for port in ports):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{process.args!r} did not start; see {log}")
        time.sleep(0.05)


@contextlib.contextmanager
def _running(
    name: str, command: list[str], port: int, log: Path, metrics_port: int | None = None
) -> Iterator[Service]:
    process = _spawn(command, log)
    service = Service(name, process, port, [process.pid], metrics_port)
    try:
        _wait_listening(process, [port] + ([metrics_port] if metrics_port else []), log)
        yield service
    finally:
        service.stop()


def _module(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.bench.relay_load", *args]


@contextlib.contextmanager
def start_python_relay(kind: str, workdir: Path, upstream_port: int) -> Iterator[Service]:
    """The `bare`, `raw`, `lean` or `sansio` relay in front of the CSMS at `upstream_port`."""
    port = free_port()
    command = _module(kind, "--port", str(port), "--upstream", str(upstream_port))
    with _running(kind, command, port, workdir / f"{kind}.log") as service:
        yield service


@contextlib.contextmanager
def start_csms(workdir: Path, deflate: bool = False) -> Iterator[Service]:
    port = free_port()
    command = _module("csms", "--port", str(port), *(["--deflate"] if deflate else []))
    with _running("csms", command, port, workdir / "csms.log") as service:
        yield service


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {files};
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections {files}; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096{ssl};
        {certificates}
        location / {{
            proxy_pass {scheme}://127.0.0.1:{upstream};
            {upstream_tls}
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            tcp_nodelay on;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx")


def nginx_version() -> str:
    binary = nginx_binary()
    if binary is None:
        return "missing"
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return done.stderr.strip().rsplit("/", 1)[-1]


@contextlib.contextmanager
def start_nginx(workdir: Path, upstream_port: int, tls: Path | None = None) -> Iterator[Service]:
    """nginx as a plain WebSocket reverse proxy (1 worker); with `tls`, it terminates TLS from
    the chargers and dials the CSMS over TLS, checking its certificate."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (scripts/bench installs it)")
    home = workdir / ("nginx-tls" if tls else "nginx")
    home.mkdir(exist_ok=True)
    port = free_port()
    conf = home / "nginx.conf"
    certificates = upstream_tls = ""
    if tls is not None:
        certificates = f"ssl_certificate {tls}/server.pem; ssl_certificate_key {tls}/server.key;"
        upstream_tls = (
            f"proxy_ssl_verify on; proxy_ssl_trusted_certificate {tls}/ca.pem; "
            "proxy_ssl_name 127.0.0.1; proxy_ssl_session_reuse on;"
        )
    conf.write_text(
        NGINX_CONF.format(
            dir=home,
            port=port,
            upstream=upstream_port,
            files=open_files_limit(),
            ssl=" ssl" if tls else "",
            certificates=certificates,
            scheme="https" if tls else "http",
            upstream_tls=upstream_tls,
        )
    )
    command = [binary, "-p", str(home), "-c", str(conf), "-e", str(home / "nginx-error.log")]
    with _running(home.name, command, port, workdir / f"{home.name}.log") as service:
        service.pids = _nginx_workers(service.process.pid)
        yield service


def _nginx_workers(master: int) -> list[int]:
    deadline = time.monotonic() + START_S
    while not (workers := children(master)):
        if time.monotonic() > deadline:
            raise RuntimeError("nginx started no worker")
        time.sleep(0.05)
    return workers


LC_CONF = """\
[router]
upstream_url = "{scheme}://127.0.0.1:{upstream}"
listen_host = "127.0.0.1"
listen_port = {port}
ping_interval_s = 30
# The closed-loop points send ~100 frames/s per charger on purpose.
max_frames_per_s = 0
# Thousands of chargers connect at once, all from this one address.
max_connections = 0
handshakes_per_s_per_address = 100000
handshake_burst_per_address = 100000
max_handshakes_in_progress = 100000
max_csms_dials = 1000
handshake_timeout_s = 60
validation_to_csms = "observe"
validation_to_charger = "observe"
{tls}
[router.offline]
journal_path = "{journal}"
redial_interval_s = 0.2

[metrics]
listen_host = "127.0.0.1"
listen_port = {metrics_port}
"""

# TLS on both hops: the LC's certificate towards chargers, the CSMS's CA towards the CSMS.
LC_TLS = """
[router.tls]
certificate = "{tls}/server.pem"
private_key = "{tls}/server.key"

[router.upstream_tls]
ca = "{tls}/ca.pem"
"""


@contextlib.contextmanager
def start_lc(
    workdir: Path,
    upstream_port: int,
    label: str = "lc",
    tls: Path | None = None,
    journal: Path | None = None,
) -> Iterator[Service]:
    """The Local Controller as an installer runs it: `python -m lc run --config FILE`.

    `tls`: a folder with server.pem, server.key and ca.pem (TLS on both hops); `journal`: the
    journal to start with (by default a fresh one in `workdir`)."""
    port, metrics_port = free_port(), free_port()
    conf = workdir / f"{label}.toml"
    conf.write_text(
        LC_CONF.format(
            scheme="wss" if tls else "ws",
            upstream=upstream_port,
            port=port,
            metrics_port=metrics_port,
            journal=journal or workdir / f"{label}-journal.sqlite",
            tls=LC_TLS.format(tls=tls) if tls else "",
        )
    )
    command = [sys.executable, "-m", "lc", "run", "--config", str(conf)]
    with _running(label, command, port, workdir / f"{label}.log", metrics_port) as service:
        yield service


def lc_metrics(service: Service) -> dict[str, float]:
    """The LC's Prometheus samples, summed over labels: {metric name: value}."""
    url = f"http://127.0.0.1:{service.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def wait_lc_drained(service: Service, budget_s: float = 30.0) -> None:
    """Wait until the LC has let go of every charger of the previous run."""
    deadline = time.monotonic() + budget_s
    while lc_metrics(service).get("ocpp_lc_chargers_connected", 0) > 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the LC still holds chargers from the previous run")
        time.sleep(0.2)


def run_client(url: str, pids: dict[str, list[int]], *args: str) -> dict[str, Any]:
    """Run the load generator in its own process and return its JSON result."""
    budget = CONNECT_BUDGET_S + DRAIN_S + 2 * CLOSE_S + 120
    return run_json(_module("client", "--url", url, *args), pids, budget)


def run_json(command: list[str], pids: dict[str, list[int]], timeout_s: float) -> dict[str, Any]:
    """Run a load generator, telling it the processes to sample (`--pid NAME=PID`); its result
    is the JSON object on its last line."""
    for name, name_pids in pids.items():
        command = [*command, *(arg for pid in name_pids for arg in ("--pid", f"{name}={pid}"))]
    done = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        preexec_fn=raise_nofile_limit,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- command line ------------------------------------------------------------------------------


RELAYS = {
    "bare": "a bare Python relay (no parsing)",
    "raw": "a relay on bare asyncio Protocols",
    "lean": "the raw relay doing the LC's OCPP work behind each write",
    "sansio": "a relay on asyncio Protocols driving websockets' sans-I/O protocols",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay_load", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    csms = commands.add_parser("csms", help="the fake CSMS")
    csms.add_argument("--port", type=int, required=True)
    csms.add_argument("--deflate", action="store_true", help="accept permessage-deflate")
    for kind, description in RELAYS.items():
        relay = commands.add_parser(kind, help=f"{description} to the CSMS")
        relay.add_argument("--port", type=int, required=True)
        relay.add_argument("--upstream", type=int, required=True, help="the CSMS's port")
    client = commands.add_parser("client", help="the charger load generator")
    client.add_argument("--url", required=True, help="ws://host:port of the hop or the CSMS")
    client.add_argument("--chargers", type=int, required=True)
    client.add_argument("--action", choices=sorted(PAYLOADS), default="TransactionEvent")
    client.add_argument("--rate", type=float, help="aggregate CALLs/s (Poisson); else closed loop")
    client.add_argument("--idle", type=float, help="only hold the connections this many seconds")
    client.add_argument("--warmup", type=float, default=2.0)
    client.add_argument("--duration", type=float, default=8.0)
    client.add_argument("--seed", type=int, default=1)
    client.add_argument("--pid", action="append", default=[], help="NAME=PID to sample")
    return parser


def _run(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    raise_nofile_limit()
    if args.command == "csms":
        _run(serve(csms_app(args.deflate), args.port))
    elif args.command == "bare":
        _run(serve(bare_relay_app(f"ws://127.0.0.1:{args.upstream}"), args.port))
    elif args.command == "raw":
        _run(serve_relay(lambda: _ChargerSide(args.upstream), args.port))
    elif args.command == "lean":
        _run(serve_relay(lambda: _LeanChargerSide(args.upstream), args.port))
    elif args.command == "sansio":
        _run(serve_relay(lambda: _SansioCharger(args.upstream), args.port))
    else:
        print(json.dumps(_run(run_load(args))), flush=True)


if __name__ == "__main__":
    main()
