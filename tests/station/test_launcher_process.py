"""`ocpp-lc launch` as the service manager sees it, a real process: SIGTERM ends it within a
bound with exit code 0 even when the LC it runs does not stop; an LC that cannot start ends
the launcher with its exit code (the service manager starts it again after its wait)
instead of a tight loop of restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lc.launcher import STOP_BOUND_S
from station.boot_reason import MARKER_FILE
from tests.lc_process import free_port, site_config, start_lc
from tests.peers import wait_until

pytestmark = pytest.mark.timeout(120)

# A release whose LC ignores SIGTERM: it tells its pid, then only sleeps (bounded, so that a
# failed test leaves nothing behind for long).
HUNG_MAIN = """import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open("hung.pid.new", "w") as out:
    out.write(str(os.getpid()))
os.replace("hung.pid.new", "hung.pid")
time.sleep(90)
"""


def _config(folder: Path, metrics_port: int) -> Path:
    config = folder / "site.toml"
    upstream = f"ws://127.0.0.1:{free_port()}/ocpp"
    station = f"""
[station]
identity = "LC-TEST"
csms_url = "{upstream}/LC-TEST"
state_path = "{folder / "station-state.json"}"
"""
    text = site_config(upstream, free_port(), metrics_port, folder / "journal.sqlite") + station
    config.write_text(text, encoding="utf-8")
    return config


@contextlib.asynccontextmanager
async def _launcher(folder: Path, config: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await start_lc("launch", "--config", str(config), cwd=folder)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _hung_release(folder: Path) -> None:
    """releases/0.9.7, current: started by the launcher (not on trial)."""
    release = folder / "releases" / "0.9.7"
    (release / "lc").mkdir(parents=True)
    (release / "lc" / "__init__.py").write_text("")
    (release / "lc" / "__main__.py").write_text(HUNG_MAIN)
    (folder / "releases" / "current").symlink_to("0.9.7")


async def test_sigterm_ends_an_lc_that_does_not_stop_and_the_launcher_exits_0(
    tmp_path: Path,
) -> None:
    _hung_release(tmp_path)
    async with _launcher(tmp_path, _config(tmp_path, free_port())) as launcher:
        pid_file = tmp_path / "hung.pid"
        await wait_until(pid_file.exists, 30, "the LC started")
        pid = int(pid_file.read_text())
        try:
            launcher.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(launcher.wait(), STOP_BOUND_S + 15)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # only if the launcher left it running
        output = (await launcher.communicate())[1].decode()  # the log
    assert code == 0, output
    assert "did not stop within 20 s: killed" in output
    with pytest.raises(ProcessLookupError):  # ended, and waited for by the launcher
        os.kill(pid, 0)


async def test_an_lc_that_cannot_start_ends_the_launcher_with_its_exit_code(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:  # the metrics port, in use: the LC cannot start
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _config(tmp_path, taken.getsockname()[1])
        async with _launcher(tmp_path, config) as launcher:
            output = (await asyncio.wait_for(launcher.communicate(), 60))[1].decode()
    assert launcher.returncode == 1, output
    assert output.count("starting the LC") == 1  # once: no loop of restarts
    assert "cannot start" in output
    assert "the launcher ends too, for the service manager to start it again" in output
    # The next start tells the CSMS why the LC went down.
    assert (tmp_path / MARKER_FILE).read_text() == "ApplicationReset"
