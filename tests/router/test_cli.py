"""The LC as an installer runs it: `run --config FILE` in its own process, scraped by Prometheus."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.peers import Csms, connect_charge_point

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(upstream: str, port: int, metrics_port: int, journal: Path) -> str:
    return f"""
[router]
upstream_url = "{upstream}"
listen_host = "127.0.0.1"
listen_port = {port}
ping_interval_s = 5

[router.offline]
journal_path = "{journal}"

[metrics]
listen_host = "127.0.0.1"
listen_port = {metrics_port}
"""


async def _lc(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lc",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listens on {port}")


async def test_run_relays_serves_metrics_reloads_and_stops(csms: Csms, tmp_path: Path) -> None:
    port, metrics_port = _free_port(), _free_port()
    config = tmp_path / "site.toml"
    config.write_text(_config(csms.url, port, metrics_port, tmp_path / "journal.sqlite"))
    process = await _lc("run", "--config", str(config))
    try:
        await _wait_listening(port)
        await _wait_listening(metrics_port)
        charger = await connect_charge_point(f"ws://127.0.0.1:{port}", "CP-CLI", "ocpp2.0.1")
        assert (await charger.cp.boot()).status == "Accepted"
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{metrics_port}/metrics") as response,
        ):
            assert response.status == 200
            text = await response.text()
        assert 'ocpp_lc_chargers_connected{version="ocpp2.0.1"} 1.0' in text
        assert (
            'ocpp_lc_messages_total{action="BootNotification",direction="to_csms",'
            'message_type="CALL"} 1.0' in text
        )
        assert "ocpp_lc_relay_seconds_bucket" in text
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{metrics_port}/") as response,
        ):
            page = await response.text()
        # A routing-only LC: its status page lists the charger, and has no grid section.
        assert "Chargers (1 of 1 connected)" in page and "<td>CP-CLI</td>" in page
        assert "Grid connection" not in page

        config.write_text(
            _config(csms.url, port, metrics_port, tmp_path / "journal.sqlite").replace(
                "ping_interval_s = 5", "ping_interval_s = 6"
            )
        )
        process.send_signal(signal.SIGHUP)  # reload: the charger keeps its link
        await asyncio.sleep(0.3)
        assert (await charger.cp.boot()).status == "Accepted"
        await charger.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err.decode()
    assert b"config reloaded" in err


async def test_bad_config_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[router]\nupstream_url = "http://csms"\nlisten_prot = 9000\n')
    process = await _lc("check-config", "--config", str(config))
    _out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 2
    assert "router.upstream_url" in err.decode()

    config.write_text('[router]\nupstream_url = "ws://csms"\nlisten_prot = 9000\n')
    process = await _lc("run", "--config", str(config))
    _out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 2
    assert "router.listen_prot: unknown key" in err.decode()


async def test_example_config_is_valid() -> None:
    process = await _lc("check-config", "--config", str(REPO / "config" / "site.example.toml"))
    out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err.decode()
    assert b"OK" in out


async def test_example_config_switched_to_close_is_valid_and_names_the_ignored_keys(
    tmp_path: Path,
) -> None:
    example = (REPO / "config" / "site.example.toml").read_text()
    assert 'connection_loss = "hold"' in example
    config = tmp_path / "site.toml"
    config.write_text(example.replace('connection_loss = "hold"', 'connection_loss = "close"'))
    process = await _lc("check-config", "--config", str(config))
    out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err.decode()
    assert b"OK" in out
    assert "router.offline.accept_unknown_ids" in err.decode()
    assert "ignored" in err.decode()


async def test_journal_that_cannot_be_opened_is_a_clear_start_error(
    csms: Csms, tmp_path: Path
) -> None:
    config = tmp_path / "site.toml"
    journal = tmp_path / "missing-dir" / "journal.sqlite"
    config.write_text(_config(csms.url, _free_port(), _free_port(), journal))
    process = await _lc("run", "--config", str(config))
    _out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 1
    assert "cannot start" in err.decode() and "Traceback" not in err.decode()
