"""What the launcher does when the LC's process ends, pure.

The LC ends with RESTART_EXIT_CODE to be started again (a Reset, a new release). A release on
trial (just installed, not yet connected to the CSMS) that ends or runs out of time is rolled
back and the previous release started. A crash ends the launcher too, with the reason of the
next boot kept: the service manager starts it again (systemd's Restart=, with its back-off).
"""

from __future__ import annotations

from dataclasses import dataclass

# EX_TEMPFAIL: "try again"; systemd's Restart=always restarts the LC on it without a launcher.
RESTART_EXIT_CODE = 75
CRASH_BOOT_REASON = "ApplicationReset"


@dataclass(frozen=True, slots=True)
class AfterExit:
    start_again: bool
    roll_back: bool
    boot_reason: str | None  # to keep for the next start unless the LC left one
    exit_code: int  # the launcher's, when it does not start the LC again


def after_exit(code: int | None, on_trial: bool, stopping: bool) -> AfterExit:
    """`code` is the LC's exit code, None when the launcher ended it (its trial ran out);
    `on_trial` whether the release it ran is still on trial; `stopping` whether the launcher
    was told to stop (SIGTERM, SIGINT)."""
    if stopping:
        return AfterExit(False, False, None, code or 0)
    if on_trial:
        return AfterExit(True, True, CRASH_BOOT_REASON, 0)
    if code == RESTART_EXIT_CODE:
        return AfterExit(True, False, None, 0)
    if code == 0:
        return AfterExit(False, False, None, 0)
    return AfterExit(False, False, CRASH_BOOT_REASON, code if code is not None else 1)
