"""The command line as a user meets it: --version, options where they type them, paths from
their own directory, and a demo that is quiet and leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from tests.lc_process import REPO, free_port, site_config, start_lc

WAIT_S = 60  # a hang guard for a loaded machine, not a speed check


async def _finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), WAIT_S)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_version() -> None:
    code, out, err = await _finish(await start_lc("--version"))
    assert code == 0, err
    assert out.startswith("ocpp-lc 0.1.0")


async def test_log_level_is_accepted_after_the_subcommand(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics_port = taken.getsockname()[1]
        journal = tmp_path / "journal.sqlite"
        config.write_text(site_config("ws://127.0.0.1:9", free_port(), metrics_port, journal))
        quiet = await start_lc("run", "--log-level", "warning", "--config", str(config))
        code, _out, err = await _finish(quiet)
    # Only the failure: the router's INFO line ("listening for chargers") was not logged.
    assert code == 1, err
    assert err.splitlines() == [
        f"cannot start: metrics.listen_port: cannot listen on 127.0.0.1:{metrics_port}: "
        "address already in use"
    ]


async def test_an_unknown_log_level_is_refused_naming_the_choices() -> None:
    code, _out, err = await _finish(await start_lc("check-config", "--log-level", "loud"))
    assert code == 2
    assert "--log-level: invalid choice: 'LOUD'" in err and "'DEBUG', 'INFO'" in err


async def test_scripts_lc_reads_a_relative_config_from_the_callers_directory(
    tmp_path: Path,
) -> None:
    """...and the journal's relative path from the state directory, which check-config shows."""
    state = tmp_path / "state"
    state.mkdir()
    config = f'state_directory = "{state}"\n' + site_config(
        "ws://127.0.0.1:9", free_port(), free_port(), Path("j.sqlite")
    )
    (tmp_path / "site.toml").write_text(config, encoding="utf-8")
    process = await start_lc(
        "check-config",
        "--config",
        "site.toml",
        program=(str(REPO / "scripts" / "lc"),),
        cwd=tmp_path,
    )
    code, out, err = await _finish(process)
    assert code == 0, err
    assert out.splitlines() == [
        "site.toml: OK",
        f"state_directory = {state}",
        f"router.offline.journal_path = {state / 'j.sqlite'}",
    ]


async def _demo(tmp_path: Path, *args: str) -> tuple[str, str]:
    """The demo with its own temporary folder, which must be empty again when it ends."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = await asyncio.create_subprocess_exec(
        *(str(REPO / ".venv" / "bin" / "python"), "-m", "lc", "demo", *args),
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    code, out, err = await _finish(process)
    assert code == 0, err
    assert list(scratch.iterdir()) == []  # the demo's journal folder is gone
    return out, err


async def test_the_demo_is_quiet_and_cleans_up(tmp_path: Path) -> None:
    out, err = await _demo(tmp_path, "--duration", "4")
    lines = out.splitlines()
    assert lines[0].startswith("status page: open http://127.0.0.1:")
    site_lines = [line for line in lines if line.startswith("t=")]
    assert len(site_lines) >= 3 and all(" L1 " in line for line in site_lines)
    # Warnings only: no library logs every frame, no INFO at all.
    assert " INFO " not in err and " DEBUG " not in err


async def test_the_demo_garage_keeps_every_floors_fuse_by_its_own_meters(tmp_path: Path) -> None:
    """End to end: both floors' sub-boards (40 A, one with a sub-meter, one wired rotated) fill
    up with cars while the site's base load swings; judged from the currents the simulated
    panels really carried, not from what the LC planned."""
    out, _err = await _demo(tmp_path, "--duration", "24")
    lines = out.splitlines()
    assert "done: 0.0 s with a phase above the cap" in lines
    assert "floor-1: 0.0 s with a phase above its 40 A fuse" in lines
    assert "floor-2: 0.0 s with a phase above its 40 A fuse" in lines
    paused = [int(line.rsplit("paused", 1)[1]) for line in lines if line.startswith("t=")]
    assert max(paused) > 0  # the fuses and the cap did bind: not everyone fitted


async def test_the_verbose_demo_logs_the_lc_but_not_every_frame(tmp_path: Path) -> None:
    _out, err = await _demo(tmp_path, "-v", "--duration", "3")
    assert "INFO router.server: listening for chargers" in err
    assert " ocpp:" not in err


BALANCING = """
[site]
phase_cap_a = 63

[meter]
host = "127.0.0.1"
map = "eastron_sdm630"
"""


async def _checked_with_warnings(tmp_path: Path, sections: str) -> str:
    """check-config of a balancing config with `sections` (TOML) added: OK, and what it
    warned of."""
    config = tmp_path / "site.toml"
    journal = tmp_path / "journal.sqlite"
    config.write_text(
        site_config("ws://127.0.0.1:9", free_port(), free_port(), journal) + BALANCING + sections
    )
    code, out, err = await _finish(await start_lc("check-config", "--config", str(config)))
    assert code == 0, err
    assert out.splitlines()[0] == f"{config}: OK"
    return err


async def test_check_config_warns_of_a_panel_fuse_above_the_one_feeding_it(tmp_path: Path) -> None:
    panels = """
[[panels]]
name = "floor-1"
fuse_a = [63, 80, 63]
"""
    err = await _checked_with_warnings(tmp_path, panels)
    assert err.splitlines() == [
        "warning: panels[0].fuse_a: L2 80 A is above the site's phase_cap_a "
        "(63 A on the phase feeding it)"
    ]


async def test_check_config_refuses_an_ems_register_open_to_any_host(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    journal = tmp_path / "journal.sqlite"
    base = site_config("ws://127.0.0.1:9", free_port(), free_port(), journal) + BALANCING
    register = f'[external_limit.modbus]\nlisten_host = "0.0.0.0"\nlisten_port = {free_port()}\n'
    config.write_text(f"{base}\n{register}")
    for command in ("check-config", "run"):  # run: it does not start, listening nowhere
        process = await start_lc(command, "--config", str(config))
        try:
            code, out, err = await _finish(process)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert (code, out) == (2, "")
        assert err.startswith(
            "config error: external_limit.allowed_clients: required, the EMS's addresses: "
            "external_limit.modbus.listen_host '0.0.0.0' is reachable from the network"
        )
    listed = '[external_limit]\nallowed_clients = ["192.168.1.20"]\n'
    config.write_text(f"{base}\n{listed}{register}")
    code, out, err = await _finish(await start_lc("check-config", "--config", str(config)))
    assert code == 0 and err == "", err
