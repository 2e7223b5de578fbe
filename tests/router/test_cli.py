"""The LC as an installer runs it: `run --config FILE` in its own process, scraped by Prometheus."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from tests.lc_process import example_config, free_port, site_config, start_lc, wait_listening
from tests.peers import Csms, connect_charge_point


async def test_run_relays_serves_metrics_reloads_and_stops(csms: Csms, tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    config = tmp_path / "site.toml"
    config.write_text(site_config(csms.url, port, metrics_port, tmp_path / "journal.sqlite"))
    process = await start_lc("run", "--config", str(config))
    logged = b""  # the LC's stderr, as far as read before it stops
    try:
        await wait_listening(port)
        await wait_listening(metrics_port)
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
            site_config(csms.url, port, metrics_port, tmp_path / "journal.sqlite").replace(
                "ping_interval_s = 5", "ping_interval_s = 6"
            )
        )
        process.send_signal(signal.SIGHUP)  # reload: the charger keeps its link
        assert process.stderr is not None
        for _ in range(1000):  # bounded: the LC logs a few lines, then the reload
            if b"config reloaded" in logged:
                break
            line = await asyncio.wait_for(process.stderr.readline(), 10)
            assert line, f"the LC's log ended before the reload: {logged.decode()}"
            logged += line
        assert (await charger.cp.boot()).status == "Accepted"
        await charger.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, (logged + err).decode()
    assert b"config reloaded" in logged


async def test_bad_config_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[router]\nupstream_url = "http://csms"\nlisten_prot = 9000\n')
    process = await start_lc("check-config", "--config", str(config))
    _out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 2
    assert "router.upstream_url" in err.decode()

    config.write_text('[router]\nupstream_url = "ws://csms"\nlisten_prot = 9000\n')
    process = await start_lc("run", "--config", str(config))
    _out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 2
    assert "router.listen_prot: unknown key" in err.decode()


async def test_example_config_is_valid(tmp_path: Path) -> None:
    process = await start_lc("check-config", "--config", str(example_config(tmp_path)))
    out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err.decode()
    assert b"OK" in out


async def test_example_config_switched_to_close_is_valid_and_names_the_ignored_keys(
    tmp_path: Path,
) -> None:
    config = example_config(tmp_path)
    example = config.read_text()
    assert 'connection_loss = "hold"' in example
    config.write_text(example.replace('connection_loss = "hold"', 'connection_loss = "close"'))
    process = await start_lc("check-config", "--config", str(config))
    out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err.decode()
    assert b"OK" in out
    assert "router.offline.accept_unknown_ids" in err.decode()
    assert "ignored" in err.decode()
