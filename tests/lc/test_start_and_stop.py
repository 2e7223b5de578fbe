"""A failed start exits, naming the key; SIGTERM stops the LC within its shutdown bound.

Under systemd a start that hangs leaves the unit "running" with no socket open, and
`Restart=` never fires: the real command line runs here, as a process of its own.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
from pathlib import Path

from lc.serve import SHUTDOWN_BOUND_S
from tests.lc_process import free_port, site_config, start_lc, wait_listening
from tests.peers import Csms, connect_charge_point, wait_until
from tests.raw_ws import TEXT, frame

# A hang guard, not a speed check: a start failure exits at once, a hang never does.
EXIT_WAIT_S = 30


async def _exit(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _out, err = await asyncio.wait_for(process.communicate(), EXIT_WAIT_S)
    assert process.returncode is not None
    return process.returncode, err.decode()


def _listening_socket() -> socket.socket:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken


def _can_bind(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_a_taken_router_port_exits_1_naming_the_key(csms: Csms, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    with _listening_socket() as taken:
        port = taken.getsockname()[1]
        config.write_text(site_config(csms.url, port, free_port(), tmp_path / "journal.sqlite"))
        process = await start_lc("run", "--config", str(config))
        code, err = await _exit(process)
    assert code == 1, err
    assert err.strip() == (
        f"cannot start: router.listen_port: cannot listen on 127.0.0.1:{port}: "
        "address already in use"
    )


async def test_a_taken_metrics_port_exits_1_and_frees_the_router_port(
    csms: Csms, tmp_path: Path
) -> None:
    config = tmp_path / "site.toml"
    router_port = free_port()
    with _listening_socket() as taken:
        metrics_port = taken.getsockname()[1]
        journal = tmp_path / "journal.sqlite"
        config.write_text(site_config(csms.url, router_port, metrics_port, journal))
        process = await start_lc("run", "--config", str(config))
        code, err = await _exit(process)
    assert code == 1, err
    assert err.strip().splitlines()[-1] == (
        f"cannot start: metrics.listen_port: cannot listen on 127.0.0.1:{metrics_port}: "
        "address already in use"
    )
    # What was opened before the failure was closed: the router's port is free again and the
    # journal was created and closed (the next start can open it).
    assert _can_bind(router_port)
    assert journal.exists()


async def test_one_port_for_router_and_metrics_is_refused_by_check_config(
    csms: Csms, tmp_path: Path
) -> None:
    config = tmp_path / "site.toml"
    port = free_port()
    config.write_text(site_config(csms.url, port, port, tmp_path / "journal.sqlite"))
    for command in ("check-config", "run"):
        code, err = await _exit(await start_lc(command, "--config", str(config)))
        assert code == 2, err
        assert f"metrics.listen_port: {port} is router.listen_port too" in err


async def test_a_journal_that_cannot_be_opened_exits_1_naming_the_key(
    csms: Csms, tmp_path: Path
) -> None:
    config = tmp_path / "site.toml"
    journal = tmp_path / "journal.sqlite"
    journal.write_bytes(b"not an SQLite database, but a file someone put there " * 100)
    config.write_text(site_config(csms.url, free_port(), free_port(), journal))
    code, err = await _exit(await start_lc("run", "--config", str(config)))
    assert code == 1, err
    assert err.strip() == (
        f"cannot start: router.offline.journal_path: cannot open {journal}: file is not a database"
    )


async def _running_lc(csms: Csms, tmp_path: Path) -> tuple[asyncio.subprocess.Process, int]:
    """`run` with a fresh config, once it listens for chargers: (process, router port)."""
    config = tmp_path / "site.toml"
    port = free_port()
    config.write_text(site_config(csms.url, port, free_port(), tmp_path / "journal.sqlite"))
    process = await start_lc("run", "--config", str(config))
    try:
        await wait_listening(port)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return process, port


async def _terminated(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """SIGTERM, then the exit code and the log; the wait is the bound plus slack for a
    loaded machine (a hang would take for ever)."""
    process.send_signal(signal.SIGTERM)
    _out, err = await asyncio.wait_for(process.communicate(), SHUTDOWN_BOUND_S + EXIT_WAIT_S)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_sigterm_stops_the_lc_with_a_charger_connected(csms: Csms, tmp_path: Path) -> None:
    process, port = await _running_lc(csms, tmp_path)
    try:
        charger = await connect_charge_point(f"ws://127.0.0.1:{port}", "CP-TERM", "ocpp1.6")
        assert (await charger.cp.boot()).status == "Accepted"
    finally:
        code, err = await _terminated(process)
    assert code == 0, err
    await asyncio.wait_for(charger.ws.wait_closed(), EXIT_WAIT_S)


async def test_sigterm_stops_the_lc_when_a_charger_never_answers_its_close(
    csms: Csms, tmp_path: Path
) -> None:
    process, port = await _running_lc(csms, tmp_path)
    try:
        # A charger that completes its WebSocket handshake, sends one Heartbeat and never reads
        # again. Its Heartbeat at the CSMS shows the pair runs: SIGTERM then stops a running
        # pair, not a handshake under way.
        silent = await _silent_charger(port, "CP-SILENT")
        await wait_until(
            lambda: "Heartbeat" in getattr(csms.stations.get("CP-SILENT"), "actions", []),
            timeout_s=EXIT_WAIT_S,
            what="the silent charger's Heartbeat at the CSMS",
        )
    finally:
        code, err = await _terminated(process)
    silent.close()
    assert code == 0, err
    assert "CP-SILENT: disconnected" in err


async def _silent_charger(port: int, identity: str) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ocpp/{identity} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), EXIT_WAIT_S)
    assert answer.startswith(b"HTTP/1.1 101 ")
    writer.write(frame(TEXT, b'[2,"hb-1","Heartbeat",{}]'))
    await writer.drain()
    return writer
