"""`ocpp-lc launch`: the small process that runs the LC and outlives it.

It starts `ocpp-lc run` from the current release (firmware.releases: the folder `current`
points at, else the installed one), starts it again when it ends to restart (a Reset, a new
release), and rolls a release on trial back to the previous one when it ends, or does not
reach the CSMS within its bound, before confirming itself: so a release that cannot even be
imported is rolled back. Signals are passed on to the LC; one that does not stop within
STOP_BOUND_S of SIGTERM is killed, and the launcher exits 0. It is part of the installation the
service manager runs, never replaced over the air.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from firmware.releases import FOLDER, Releases
from lc.config import SiteConfig
from lc.launch_decisions import after_exit
from station.boot_reason import NextBootReason

log = logging.getLogger(__name__)

# The LC stops within lc.serve.SHUTDOWN_BOUND_S (15 s) of SIGTERM; one that does not is killed
# this long after the signal, before the service manager's own bound (TimeoutStopSec=30).
STOP_BOUND_S = 20.0
# How often the launcher looks up from waiting for the LC: a stop or a trial's end is due.
WAIT_SLICE_S = 0.25


class Launcher:
    def __init__(self, config: SiteConfig, run_arguments: list[str]) -> None:
        self._run_arguments = run_arguments
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._stop_deadline: float | None = None  # monotonic time the LC is killed at
        state = config.station.state_path.parent if config.station is not None else None
        self._releases = Releases(state / FOLDER) if state is not None else None
        self._next_boot = NextBootReason(state) if state is not None else None

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._pass_on)
        while True:
            on_trial = self._releases is not None and self._releases.trial() is not None
            code = self._run_once()
            if self._releases is not None and self._releases.trial() is None:
                on_trial = False  # it confirmed itself before it ended
            decision = after_exit(code, on_trial, self._stopping)
            failed = self._releases.roll_back() if decision.roll_back and self._releases else None
            if failed is not None:
                log.error("release %s did not come up: rolled back", failed.candidate)
            reason, next_boot = decision.boot_reason, self._next_boot
            # The LC's own reason, when it left one, wins; unless the release it was for never
            # started to take it.
            kept = next_boot is not None and next_boot.path.exists() and not decision.roll_back
            if reason is not None and next_boot is not None and not kept:
                next_boot.set(reason)
            if not decision.start_again:
                if decision.boot_reason is not None:  # it crashed: say what happens next
                    log.error(
                        "the LC ended with exit code %s: the launcher ends too, for the"
                        " service manager to start it again after its wait",
                        code,
                    )
                return decision.exit_code

    def _run_once(self) -> int | None:
        """Run the LC once; its exit code, None when its trial ran out and it was ended."""
        release = self._releases.current_path() if self._releases is not None else None
        environment = dict(os.environ)
        environment.pop("PYTHONPATH", None)
        if release is not None:
            environment["PYTHONPATH"] = str(release)
        # -P: nothing from the working folder shadows the release.
        command = [sys.executable, "-P", "-m", "lc", *self._run_arguments]
        log.info("starting the LC from %s", release or "the installed release")
        child = self._child = subprocess.Popen(command, env=environment)
        trial = self._releases.trial() if self._releases is not None else None
        trial_ends = None if trial is None else time.monotonic() + trial.bound_s
        try:
            while True:
                try:
                    return child.wait(timeout=WAIT_SLICE_S)
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if self._stop_deadline is not None and now > self._stop_deadline:
                    log.error("the LC did not stop within %g s: killed", STOP_BOUND_S)
                    child.kill()
                    return child.wait()
                if trial is not None and trial_ends is not None and now > trial_ends:
                    trial_ends = None  # looked at once: confirmed by now, or rolled back
                    if self._releases is not None and self._releases.trial() is not None:
                        log.error("release %s not connected in time", trial.candidate)
                        child.kill()
                        child.wait()
                        return None
        finally:
            self._child = None

    def _pass_on(self, signum: int, _frame: FrameType | None) -> None:
        if signum != signal.SIGHUP:
            self._stopping = True
            if self._stop_deadline is None:
                self._stop_deadline = time.monotonic() + STOP_BOUND_S
        if self._child is not None:
            self._child.send_signal(signum)


def run_arguments(config_path: Path, log_level: str | None) -> list[str]:
    """The command line of the LC the launcher runs."""
    level = [] if log_level is None else ["--log-level", log_level]
    return [*level, "run", "--config", str(config_path), "--launched"]
