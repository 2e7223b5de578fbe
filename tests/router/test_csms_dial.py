"""The LC's dial to the CSMS, against independent servers: the `ocpp` package over `websockets`,
aiohttp's server, and raw sockets for CSMSs that misbehave."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from router.upstream import UpstreamDialer, UpstreamRefused, UpstreamSettings
from tests.peers import Csms, basic_auth, wait_until

BOOT = (
    '[2,"b1","BootNotification",'
    '{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}]'
)
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Answer = Callable[[bytes], bytes | None]  # the request's head -> the raw answer (None: none)


def _dialer(url: str, timeout_s: float = 5.0) -> UpstreamDialer:
    return UpstreamDialer(UpstreamSettings(url, connect_timeout_s=timeout_s))


@pytest.fixture
async def raw_csms() -> AsyncIterator[Callable[[Answer], Awaitable[str]]]:
    """A CSMS on a raw socket: `start(answer)` gives its URL; the answer to each upgrade is
    `answer(request head)` written as is, then the connection stays open until the test ends."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(answer: Answer) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            head = await reader.readuntil(b"\r\n\r\n")
            raw = answer(head)
            if raw is None:
                return
            writer.write(raw)
            if not raw:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for writer in writers:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


def _accept(head: bytes) -> str:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()


async def test_the_csms_chooses_among_the_chargers_subprotocols_and_sees_its_credentials() -> None:
    csms = Csms(passwords={"CP1": "pw"}, subprotocols=("ocpp1.6",))
    await csms.start()
    dialer = _dialer(csms.url)
    try:
        auth = basic_auth("CP1", "pw")
        link = await dialer.dial(
            "/ocpp/CP1", ["ocpp2.0.1", "ocpp1.6"], {"Authorization": auth, "Host": "x"}
        )
        assert link.protocol == "ocpp1.6"
        (seen,) = csms.handshakes
        assert seen.path == "/ocpp/CP1" and seen.subprotocol == "ocpp1.6"
        assert seen.authorization == auth
        assert seen.extensions is None  # not offered: the charger did not ask for it
        assert link.compress == 0
        await link.close()
    finally:
        await dialer.close()
        await csms.stop()


async def test_permessage_deflate_is_offered_when_the_charger_offered_it_and_frames_flow() -> None:
    csms = Csms()
    await csms.start()
    dialer = _dialer(csms.url)
    try:
        offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
        link = await dialer.dial("/ocpp/CP2", ["ocpp2.0.1"], offer)
        assert link.protocol == "ocpp2.0.1"
        assert link.compress > 0  # the window the CSMS chose
        assert "permessage-deflate" in (csms.handshakes[0].extensions or "")
        await link.send_str(BOOT)
        answer = await link.receive()
        assert answer.type is WSMsgType.TEXT and answer.data.startswith('[3,"b1",')
        await link.close()
    finally:
        await dialer.close()
        await csms.stop()


async def test_a_refusal_keeps_its_status_and_the_challenge_the_charger_must_see() -> None:
    csms = Csms(passwords={"CP3": "right"})
    await csms.start()
    dialer = _dialer(csms.url)
    try:
        wrong = {"Authorization": basic_auth("CP3", "wrong")}
        with pytest.raises(UpstreamRefused) as refused:
            await dialer.dial("/ocpp/CP3", ["ocpp2.0.1"], wrong)
        assert (refused.value.status, refused.value.reason) == (401, "http_401")
        assert refused.value.headers == {"WWW-Authenticate": 'Basic realm="csms"'}
        with pytest.raises(UpstreamRefused) as unknown:
            await dialer.dial("/elsewhere/CP3", ["ocpp2.0.1"], {})
        assert (unknown.value.status, unknown.value.reason) == (404, "http_404")
    finally:
        await dialer.close()
        await csms.stop()


@pytest.mark.parametrize("status", [500, 302])
async def test_an_aiohttp_csms_answering_without_an_upgrade_refuses_the_charger(
    status: int,
) -> None:
    """A redirect is refused like any answer that is not an upgrade: the LC dials the CSMS it
    was configured with, nowhere else."""
    followed: list[str] = []

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/moved":
            followed.append(request.path)
            ws = web.WebSocketResponse(protocols=("ocpp2.0.1",))
            await ws.prepare(request)
            await ws.close()
            return ws
        return web.Response(status=status, headers={"Location": "/moved"})

    server = web.Server(handle)
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    dialer = _dialer(f"ws://127.0.0.1:{port}")
    try:
        with pytest.raises(UpstreamRefused) as refused:
            await dialer.dial("/ocpp/CP4", ["ocpp2.0.1"], {})
        assert refused.value.reason == f"http_{status}"
        assert refused.value.status == (500 if status == 500 else 502)
        assert followed == []
    finally:
        await dialer.close()
        await runner.cleanup()


_BAD_ACCEPT = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: d3Jvbmc=\r\n\r\n"
)


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        (b"", 502, "unreachable"),  # hangs up mid-handshake
        (None, 504, "timeout"),  # never answers
        (_BAD_ACCEPT, 502, "http_101"),  # an upgrade with a wrong accept key: its fault
    ],
)
async def test_a_csms_that_does_not_complete_the_handshake_refuses_the_charger(
    raw_csms: Callable[[Answer], Awaitable[str]], answer: bytes | None, status: int, reason: str
) -> None:
    never = answer is None  # the dial gives up after its timeout
    dialer = _dialer(await raw_csms(lambda head: answer), timeout_s=0.3 if never else 10.0)
    with pytest.raises(UpstreamRefused) as refused:
        await dialer.dial("/ocpp/CP5", ["ocpp2.0.1"], {})
    assert (refused.value.status, refused.value.reason) == (status, reason)


async def test_frames_sent_with_the_upgrade_answer_reach_the_link(
    raw_csms: Callable[[Answer], Awaitable[str]],
) -> None:
    """A CSMS may send its first frame in the same segment as its 101."""
    frame = b'[2,"c1","Heartbeat",{}]'

    def answer(head: bytes) -> bytes:
        return (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {_accept(head)}\r\n".encode()
            + b"Sec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
            + bytes([0x81, len(frame)])
            + frame
        )

    dialer = _dialer(await raw_csms(answer))
    link = await dialer.dial("/ocpp/CP8", ["ocpp2.0.1"], {})
    assert link.protocol == "ocpp2.0.1"
    message = await link.receive()
    assert (message.type, message.data) == (WSMsgType.TEXT, frame.decode())
    await dialer.close()


async def test_a_header_with_a_line_break_is_not_sent(
    raw_csms: Callable[[Answer], Awaitable[str]],
) -> None:
    heads: list[bytes] = []

    def answer(head: bytes) -> None:
        heads.append(head)

    dialer = _dialer(await raw_csms(answer))
    with pytest.raises(UpstreamRefused) as refused:
        await dialer.dial("/ocpp/CP9", [], {"User-Agent": "x\r\nX-Injected: 1"})
    assert (refused.value.status, refused.value.reason) == (400, "bad_header")
    assert heads == []


async def test_closing_the_dialer_closes_the_links_it_opened() -> None:
    csms = Csms()
    await csms.start()
    dialer = _dialer(csms.url)
    try:
        link = await dialer.dial("/ocpp/CP10", ["ocpp2.0.1"], {})
        await wait_until(lambda: "CP10" in csms.connections, what="the CSMS's side")
        await dialer.close()
        message = await link.receive()
        assert message.type in (WSMsgType.CLOSED, WSMsgType.ERROR, WSMsgType.CLOSE)
    finally:
        await csms.stop()


async def test_aiohttp_client_errors_are_what_the_dialer_maps() -> None:
    """A port nobody listens on: the charger gets 502, as for any unreachable CSMS."""
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    dialer = _dialer(f"ws://127.0.0.1:{port}")
    with pytest.raises(UpstreamRefused) as refused:
        await dialer.dial("/ocpp/CP11", ["ocpp2.0.1"], {})
    assert (refused.value.status, refused.value.reason) == (502, "unreachable")
    assert isinstance(refused.value.__cause__, (OSError, aiohttp.ClientError))
