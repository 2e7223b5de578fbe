"""The LC as the service manager runs it: `ocpp-lc launch` in a process of its own, with its
own identity at a PyPI-`ocpp` CSMS, routing chargers to another one with `hold`."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import IO, Any

from tests.lc_process import free_port, wait_listening
from tests.router.test_hold_crash import LcProcess, hold_config
from tests.station.csms_for_lc import IDENTITY, CsmsForLc


class LaunchedLc(LcProcess):
    """`python -m lc launch --config FILE`, its log in `log_path`; one launcher across the
    LC's restarts."""

    def __init__(self, folder: Path, chargers_csms_url: str, csms: CsmsForLc, extra: str = ""):
        port, metrics_port = free_port(), free_port()
        journal = folder / "journal.sqlite"
        config = folder / "site.toml"
        station = f"""
[station]
identity = "{IDENTITY}"
csms_url = "{csms.url(IDENTITY)}"
reconnect_wait_minimum_s = 0.1
reconnect_random_range_s = 0
state_path = "{folder / "station-state.json"}"
"""
        config.write_text(
            hold_config(chargers_csms_url, port, metrics_port, journal) + station + extra,
            encoding="utf-8",
        )
        super().__init__(config, port, metrics_port, journal)
        self.folder = folder
        self.log_path = folder / "lc.log"
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        self._log = self.log_path.open("ab")
        # Not from the checkout's folder: only what is installed (and the releases) counts.
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lc",
            "--log-level",
            "INFO",
            "launch",
            "--config",
            str(self.config),
            cwd=self.folder,
            stdout=self._log,
            stderr=self._log,
        )
        await wait_listening(self.port)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 20)
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def own_calls(csms: CsmsForLc, action: str) -> list[dict[str, Any]]:
    """The payloads of the LC's own `action` calls, over all its connections, in order."""
    payloads = []
    for station, connection in zip(csms.stations, csms.connections, strict=True):
        if station.identity != IDENTITY:
            continue
        for text in connection.received:
            frame = json.loads(text)
            if frame[0] == 2 and frame[2] == action:
                payloads.append(frame[3])
    return payloads


def boot_reasons(csms: CsmsForLc) -> list[str]:
    return [boot["reason"] for boot in own_calls(csms, "BootNotification")]
