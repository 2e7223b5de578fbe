"""The rules of a Reset of the LC itself, the reason the next boot gives, and what the launcher
does when the LC ends: pure, and the private file the reason waits in."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lc.launch_decisions import RESTART_EXIT_CODE, AfterExit, after_exit
from station.boot_reason import NextBootReason
from station.reset import KIND_OF_16, ResetPlan, plan_reset, status_of_16


def test_immediate_restarts_at_once_whatever_runs() -> None:
    assert plan_reset("Immediate", None, idle=False) == ResetPlan(
        "Accepted", True, False, "RemoteReset"
    )


def test_on_idle_restarts_at_once_when_idle_else_is_scheduled() -> None:
    assert plan_reset("OnIdle", None, idle=True) == ResetPlan(
        "Accepted", True, False, "RemoteReset"
    )
    assert plan_reset("OnIdle", None, idle=False) == ResetPlan(
        "Scheduled", True, True, "ScheduledReset"
    )


@pytest.mark.parametrize("evse_id", [0, 1])
def test_a_reset_of_an_evse_is_rejected_the_lc_has_none_to_reset(evse_id: int) -> None:
    for kind in ("Immediate", "OnIdle"):
        plan = plan_reset(kind, evse_id, idle=True)
        assert (plan.status, plan.restart) == ("Rejected", False)


def test_16_hard_is_immediate_and_soft_waits_but_both_answer_accepted() -> None:
    hard = plan_reset(KIND_OF_16["Hard"], None, idle=False)
    soft = plan_reset(KIND_OF_16["Soft"], None, idle=False)
    assert (hard.wait_for_idle, soft.wait_for_idle) == (False, True)
    assert status_of_16(hard) == status_of_16(soft) == "Accepted"
    assert status_of_16(plan_reset("Immediate", 1, idle=True)) == "Rejected"


def test_the_next_boot_reason_is_taken_once_from_a_private_file(tmp_path: Path) -> None:
    marker = NextBootReason(tmp_path)
    assert marker.take() == "PowerUp"
    marker.set("RemoteReset")
    assert stat.S_IMODE(marker.path.stat().st_mode) == 0o600
    assert marker.take() == "RemoteReset"
    assert marker.take() == "PowerUp"
    with pytest.raises(ValueError):
        marker.set("../etc")


def test_a_damaged_marker_is_a_plain_start(tmp_path: Path) -> None:
    marker = NextBootReason(tmp_path)
    marker.path.write_bytes(b"\xff\x00Reboot")
    assert marker.take() == "PowerUp"
    assert not marker.path.exists()


def test_the_launcher_starts_the_lc_again_only_when_it_asks_to() -> None:
    assert after_exit(RESTART_EXIT_CODE, False, False) == AfterExit(True, False, None, 0)
    assert after_exit(0, False, False) == AfterExit(False, False, None, 0)
    # A crash: the service manager starts the launcher again; the boot tells why.
    assert after_exit(1, False, False) == AfterExit(False, False, "ApplicationReset", 1)


def test_a_release_on_trial_that_ends_or_times_out_is_rolled_back() -> None:
    for code in (1, 0, RESTART_EXIT_CODE, None):
        assert after_exit(code, True, False) == AfterExit(True, True, "ApplicationReset", 0)


def test_a_stopped_launcher_stops_whatever_the_lc_did() -> None:
    assert after_exit(0, True, True) == AfterExit(False, False, None, 0)
    assert after_exit(RESTART_EXIT_CODE, False, True) == AfterExit(
        False, False, None, RESTART_EXIT_CODE
    )
