"""What a Reset of the LC itself means (2.0.1 B11/B12; 1.6 Reset Hard/Soft), pure.

The LC is one station with no EVSE of its own to reset: a Reset naming an EVSE is Rejected.
Immediate restarts at once (after the answer). OnIdle restarts at once when the LC is idle (no
call of its own in flight, the journal flushed to the CSMS), else it is Scheduled and restarts
once it is. The reason of the next BootNotification tells the CSMS which it was.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ResetPlan:
    status: str  # ResetStatusEnumType: Accepted, Scheduled or Rejected
    restart: bool  # whether the LC restarts at all
    wait_for_idle: bool
    boot_reason: str  # the next BootNotification's reason, when it restarts


def plan_reset(kind: str, evse_id: int | None, idle: bool) -> ResetPlan:
    """`kind` is ResetEnumType (Immediate, OnIdle); `idle` whether the LC is idle now."""
    if evse_id is not None:
        return ResetPlan("Rejected", False, False, "")
    if kind == "Immediate" or idle:
        return ResetPlan("Accepted", True, False, "RemoteReset")
    return ResetPlan("Scheduled", True, True, "ScheduledReset")


# 1.6 Reset: Hard is Immediate; Soft lets what runs end first, as OnIdle does.
KIND_OF_16 = {"Hard": "Immediate", "Soft": "OnIdle"}


def status_of_16(plan: ResetPlan) -> str:
    """1.6's ResetStatus knows only Accepted and Rejected: a scheduled restart is Accepted."""
    return "Rejected" if not plan.restart else "Accepted"
