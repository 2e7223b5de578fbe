"""Fleet benchmark pieces: an OCPP-answering fake CSMS, the charger fleets, and runners for the
hops (nginx and the LC, plain or with TLS on both hops) and for a pre-filled journal.

Each piece runs in a process of its own, on 127.0.0.1:

    python -m tests.bench.fleet_load csms --port PORT [--delay-ms MS] [--tls DIR]
    python -m tests.bench.fleet_load storm --url URL --chargers N [--ca FILE] [--pid NAME=PID]
    python -m tests.bench.fleet_load fleet --url URL --chargers N --period S --warmup S
        --duration S [--pid NAME=PID]

The CSMS answers BootNotification, Heartbeat, MeterValues and TransactionEvent with valid
OCPP 2.0.1 payloads, `--delay-ms` after the CALL arrived (a CSMS behind a WAN), and serves
`GET /stats`: per charger, the CALLs received and when the first and the last arrived.

`storm` opens every charger connection at once and sends a BootNotification on each; it prints
the time from the first dial to the last answer. `fleet` connects N chargers (a few hundred
dials at a time), then each sends a Heartbeat and a MeterValues every `--period` seconds, the
chargers' phases spread evenly over the period; it prints the latency percentiles measured
after the warmup (and with `--loop-lag URL`, the LC's event-loop probes that ran late in the
warmup and the window, from its /metrics). Both print one JSON line with their own CPU and
that of the `--pid` processes over the measured part.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import ipaddress
import itertools
import json
import os
import ssl
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from router.journal import Journal, StoredHandshake
from tests.bench import relay_load as rl

SUBPROTOCOL = "ocpp2.0.1"
FLEET_DIALS = 200  # connections the fleet opens at once
STORM_BUDGET_S = 120.0  # every storm charger must have its answer by then
FLEET_CONNECT_BUDGET_S = 600.0
ANSWER_BUDGET_S = 30.0

_NOW = "2025-06-01T12:00:00.000Z"
BOOT = {"reason": "PowerUp", "chargingStation": {"model": "Bench", "vendorName": "LC"}}
METER_VALUES = {
    "evseId": 1,
    "meterValue": [
        {
            "timestamp": _NOW,
            "sampledValue": [{"value": 15432.8, "measurand": "Energy.Active.Import.Register"}],
        }
    ],
}


def identity(charger: int) -> str:
    return f"CP{charger:06d}"


def call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, message_id, action, payload], separators=(",", ":"))


# -- certificates ------------------------------------------------------------------------------


def make_certificates(folder: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 signed by it: ca.pem, server.pem, server.key.
    The key is written owner-only."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(folder / "server.key", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)


def server_context(folder: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return context


def client_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


# -- fake CSMS ---------------------------------------------------------------------------------


def _answer_payload(action: str) -> dict[str, Any]:
    if action == "BootNotification":
        return {"currentTime": _NOW, "interval": 60, "status": "Accepted"}
    if action == "Heartbeat":
        return {"currentTime": _NOW}
    return {}


def csms_app(delay_s: float) -> web.Application:
    arrivals: dict[str, list[float]] = {}  # identity -> [first, last, count]
    # Every answer waits the same delay, so they fall due in the order they were queued: one
    # queue and one sender for all connections, no task or timer per answer (this CSMS is the
    # load generator of the replay scenario and must cost less than the hop it measures).
    answers: collections.deque[tuple[float, web.WebSocketResponse, str]] = collections.deque()
    queued = asyncio.Event()

    async def send_answers() -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not answers:
                queued.clear()
                await queued.wait()
            due, ws, text = answers[0]
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
                continue
            answers.popleft()
            with contextlib.suppress(ConnectionError):
                await ws.send_str(text)

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/stats":
            return web.json_response(arrivals)
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=1 << 20)
        await ws.prepare(request)
        charger = request.path.rsplit("/", 1)[-1]
        loop = asyncio.get_running_loop()
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame[0] != 2:
                continue
            now = time.monotonic()
            seen = arrivals.setdefault(charger, [now, now, 0])
            seen[1], seen[2] = now, seen[2] + 1
            text = json.dumps([3, frame[1], _answer_payload(frame[2])])
            answers.append((loop.time() + delay_s, ws, text))
            queued.set()
        return ws

    async def start_sender(app: web.Application) -> AsyncIterator[None]:
        sender = asyncio.create_task(send_answers())
        yield
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    app.cleanup_ctx.append(start_sender)
    return app


async def serve_csms(port: int, delay_s: float, tls: Path | None) -> None:
    runner = web.AppRunner(csms_app(delay_s), access_log=None, handle_signals=False)
    await runner.setup()
    context = server_context(tls) if tls is not None else None
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096, ssl_context=context).start()
    await rl._until_sigterm()
    await runner.cleanup()


def csms_arrivals(port: int, tls: Path | None = None) -> dict[str, list[float]]:
    scheme = "https" if tls is not None else "http"
    context = client_context(tls / "ca.pem") if tls is not None else None
    with urllib.request.urlopen(
        f"{scheme}://127.0.0.1:{port}/stats", timeout=30, context=context
    ) as response:
        arrivals: dict[str, list[float]] = json.loads(response.read())
    return arrivals


# -- chargers ----------------------------------------------------------------------------------


class Sampler:
    """CPU of this process and of the named ones, RSS of the named ones, over a window."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self._pids = pids
        self._cpu = self._read_cpu()
        self._busy = rl.machine_busy_seconds()
        self._started = time.monotonic()

    def _read_cpu(self) -> dict[str, float]:
        cpu = {"client": rl.cpu_seconds(os.getpid())}
        for name, pids in self._pids.items():
            cpu[name] = sum(rl.cpu_seconds(pid) for pid in pids)
        return cpu

    def result(self) -> dict[str, Any]:
        cpu = self._read_cpu()
        return {
            "seconds": time.monotonic() - self._started,
            "cpu_s": {name: cpu[name] - self._cpu[name] for name in cpu},
            "machine_busy_s": rl.machine_busy_seconds() - self._busy,
            "rss_kib": {
                name: sum(rl.rss_kib(pid) for pid in pids) for name, pids in self._pids.items()
            },
        }


async def _open(
    session: aiohttp.ClientSession, url: str, charger: int, tls: ssl.SSLContext | None
) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(
        f"{url}/ocpp/{identity(charger)}",
        protocols=(SUBPROTOCOL,),
        ssl=tls if tls is not None else False,
        autoping=True,
        heartbeat=None,
        compress=0,
    )


async def _round_trip(ws: aiohttp.ClientWebSocketResponse, frame: str) -> None:
    await ws.send_str(frame)
    async with asyncio.timeout(ANSWER_BUDGET_S):
        while True:
            message = await ws.receive()
            if message.type is WSMsgType.TEXT and message.data.startswith("[3"):
                return
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                raise ConnectionError(f"closed: {message.extra}")


LAG_BOUNDS = ("0.01", "0.05", "0.25")  # the loop-lag buckets the fleet reports probes beyond


async def _loop_lag_beyond(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """From the LC's /metrics: how many of its loop-lag probes ran later than each bound."""
    async with session.get(url) as response:
        text = await response.text()
    buckets = {
        line.split('le="', 1)[1].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ocpp_lc_event_loop_lag_seconds_bucket")
    }
    return {bound: buckets["+Inf"] - buckets[bound] for bound in LAG_BOUNDS}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def run_storm(args: argparse.Namespace) -> dict[str, Any]:
    tls = client_context(Path(args.ca)) if args.ca else None
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    booted: list[float] = []
    errors: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        sampler = Sampler(rl._parse_pids(args.pid))
        started = time.monotonic()

        async def charger(n: int) -> None:
            try:
                ws = await _open(session, args.url, n, tls)
                sockets.append(ws)
                await _round_trip(ws, call(f"boot-{n}", "BootNotification", BOOT))
                booted.append(time.monotonic() - started)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                errors.append(repr(exc))

        async with asyncio.timeout(STORM_BUDGET_S):
            await asyncio.gather(*(charger(n) for n in range(args.chargers)))
        result = sampler.result()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return result | {
        "chargers": args.chargers,
        "booted": len(booted),
        "errors": len(errors),
        "first_errors": errors[:3],
        "all_booted_s": max(booted, default=0.0),
        "p50_s": _percentile(booted, 0.5),
    }


async def run_fleet(args: argparse.Namespace) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    latencies: list[float] = []
    errors: list[str] = []
    dials = asyncio.Semaphore(FLEET_DIALS)
    readers: list[asyncio.Task[None]] = []  # one per charger, from its connection on
    pids = rl._parse_pids(args.pid)
    rss_idle = {name: sum(map(rl.rss_kib, name_pids)) for name, name_pids in pids.items()}
    async with aiohttp.ClientSession(connector=connector) as session:
        connect_started = time.monotonic()

        async def connect(n: int) -> tuple[aiohttp.ClientWebSocketResponse, asyncio.Queue[str]]:
            async with dials:
                ws = await _open(session, args.url, n, None)
            await _round_trip(ws, call(f"boot-{n}", "BootNotification", BOOT))
            answers: asyncio.Queue[str] = asyncio.Queue()
            readers.append(asyncio.create_task(read(ws, answers)))
            return ws, answers

        async def read(ws: aiohttp.ClientWebSocketResponse, answers: asyncio.Queue[str]) -> None:
            # Always reading, as a charger does: pings are answered as they come.
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    answers.put_nowait(message.data)

        async with asyncio.timeout(FLEET_CONNECT_BUDGET_S):
            sockets = await asyncio.gather(*(connect(n) for n in range(args.chargers)))
        connect_s = time.monotonic() - connect_started
        start = time.monotonic() + 1.0
        measure_from = start + args.warmup
        end = measure_from + args.duration
        sampler: list[Sampler] = []
        lag_before: dict[str, float] = {}

        async def exchange(
            n: int, ws: aiohttp.ClientWebSocketResponse, answers: asyncio.Queue[str]
        ) -> None:
            # Phases spread evenly over the period; meter values half a period after the
            # heartbeat.
            offset = args.period * n / args.chargers
            schedule: tuple[tuple[str, dict[str, Any], float], ...] = (
                ("Heartbeat", {}, 0.0),
                ("MeterValues", METER_VALUES, args.period / 2),
            )
            for cycle in itertools.count():
                for action, payload, phase in schedule:
                    moment = start + cycle * args.period + offset + phase
                    if moment >= end:
                        return
                    await asyncio.sleep(max(0.0, moment - time.monotonic()))
                    sent = time.monotonic()
                    try:
                        await ws.send_str(call(f"{n}-{cycle}-{action}", action, payload))
                        async with asyncio.timeout(ANSWER_BUDGET_S):
                            await answers.get()
                    except (ConnectionError, TimeoutError) as exc:
                        errors.append(repr(exc))
                        return
                    if sent >= measure_from:
                        latencies.append(time.monotonic() - sent)

        async def sample() -> None:
            if args.loop_lag:
                # Read as the warmup starts: a scrape holds the LC's loop itself (tens of ms with
                # thousands of chargers), which must not fall in the measured window.
                await asyncio.sleep(max(0.0, start - time.monotonic()))
                lag_before.update(await _loop_lag_beyond(session, args.loop_lag))
            await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
            sampler.append(Sampler(pids))

        await asyncio.gather(
            sample(), *(exchange(n, ws, answers) for n, (ws, answers) in enumerate(sockets))
        )
        for reader in readers:
            reader.cancel()
        result = sampler[0].result()
        lag_after = await _loop_lag_beyond(session, args.loop_lag) if args.loop_lag else {}
        await asyncio.gather(*(ws.close() for ws, _ in sockets), return_exceptions=True)
    return result | {
        "loop_lag_beyond": {bound: lag_after[bound] - lag_before[bound] for bound in lag_after},
        "chargers": args.chargers,
        "connect_s": connect_s,
        "rss_idle_kib": rss_idle,
        "round_trips": len(latencies),
        "messages_per_s": len(latencies) / result["seconds"],
        "errors": len(errors),
        "first_errors": errors[:3],
        "p50_us": _percentile(latencies, 0.5) * 1e6,
        "p99_us": _percentile(latencies, 0.99) * 1e6,
    }


# -- runners -----------------------------------------------------------------------------------


def _module(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.bench.fleet_load", *args]


@contextlib.contextmanager
def start_csms(
    workdir: Path, delay_ms: float = 0.0, tls: Path | None = None, label: str = "csms"
) -> Iterator[rl.Service]:
    port = rl.free_port()
    command = _module("csms", "--port", str(port), "--delay-ms", str(delay_ms))
    if tls is not None:
        command += ["--tls", str(tls)]
    with rl._running(label, command, port, workdir / f"{label}.log") as service:
        yield service


def run_load(kind: str, url: str, pids: dict[str, list[int]], *args: str) -> dict[str, Any]:
    """Run `storm` or `fleet` in its own process and return its JSON result."""
    return rl.run_json(_module(kind, "--url", url, *args), pids, FLEET_CONNECT_BUDGET_S + 900)


async def fill_journal(path: Path, chargers: int, messages: int) -> None:
    """A journal as an outage leaves it: `messages` TransactionEvents per charger, each
    charger's handshake kept (no credentials, so the LC may deliver without the charger)."""
    journal = await Journal.open(path)

    async def fill(charger: int) -> None:
        name = identity(charger)
        handshake = StoredHandshake(f"/ocpp/{name}", SUBPROTOCOL, authorized=False)
        for seq in range(messages):
            payload = {
                "eventType": "Updated",
                "timestamp": _NOW,
                "triggerReason": "MeterValuePeriodic",
                "seqNo": seq,
                "transactionInfo": {"transactionId": f"TX-{name}"},
                "meterValue": METER_VALUES["meterValue"],
            }
            text = call(f"{name}-{seq}", "TransactionEvent", payload)
            await journal.append(name, text, handshake=handshake)

    try:
        # Chargers side by side (their appends share group commits), each in its own order.
        await asyncio.gather(*(fill(charger) for charger in range(chargers)))
    finally:
        await journal.close()


# -- command line ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleet_load", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    csms = commands.add_parser("csms", help="the fake CSMS")
    csms.add_argument("--port", type=int, required=True)
    csms.add_argument("--delay-ms", type=float, default=0.0, help="answer this late")
    csms.add_argument("--tls", help="a folder from make_certificates: listen on TLS")
    storm = commands.add_parser("storm", help="every charger connects at once and boots")
    fleet = commands.add_parser("fleet", help="many chargers, a heartbeat and meter values each")
    for command in (storm, fleet):
        command.add_argument("--url", required=True)
        command.add_argument("--chargers", type=int, required=True)
        command.add_argument("--pid", action="append", default=[], help="NAME=PID to sample")
    storm.add_argument("--ca", help="the CA to check a wss:// hop with")
    fleet.add_argument("--period", type=float, default=60.0)
    fleet.add_argument("--warmup", type=float, default=10.0)
    fleet.add_argument("--duration", type=float, default=60.0)
    fleet.add_argument("--loop-lag", help="the LC's /metrics URL: its loop lag in the window")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    rl.raise_nofile_limit()
    if args.command == "csms":
        tls = Path(args.tls) if args.tls else None
        rl._run(serve_csms(args.port, args.delay_ms / 1000, tls))
    elif args.command == "storm":
        print(json.dumps(rl._run(run_storm(args))), flush=True)
    else:
        print(json.dumps(rl._run(run_fleet(args))), flush=True)


if __name__ == "__main__":
    main()
