"""A Reset of the LC itself from the CSMS, on its own link (2.0.1 B11/B12, 1.6 Reset): the
answer goes out first, the reason of the next boot is kept, a ResetOrReboot security event
recorded, then the process ends with RESTART_EXIT_CODE for its launcher (or service manager)
to start it again.

The chargers' links drop with the process and come back to the new one; what `hold` journaled
stays in the journal and is replayed from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from station.boot_reason import NextBootReason
from station.link import StationLink
from station.reset import KIND_OF_16, ResetPlan, plan_reset, status_of_16

# How often a Scheduled (OnIdle) reset looks whether the LC became idle.
IDLE_CHECK_S = 0.5

# Whether the journal still holds frames for the CSMS.
Backlogged = Callable[[], Awaitable[bool]]


class ResetAtCsms:
    def __init__(
        self,
        link: StationLink,
        backlogged: Backlogged,
        next_boot: NextBootReason,
        record_reset: Callable[[str], None],
        restart: Callable[[], None],
    ) -> None:
        self._link = link
        self._backlogged = backlogged
        self._next_boot = next_boot
        self._record_reset = record_reset  # the ResetOrReboot security event, once
        self._restart = restart

    def wire(self) -> None:
        self._link.register("Reset", self.reset)

    async def idle(self) -> bool:
        return self._link.session.idle and not await self._backlogged()

    async def reset(self, request: dict[str, Any]) -> dict[str, Any]:
        """A 2.0.1 Reset (Immediate, OnIdle, an evseId) or, on a 1.6 link, Hard or Soft."""
        kind = request["type"]
        plan = plan_reset(KIND_OF_16.get(kind, kind), request.get("evseId"), await self.idle())
        if plan.restart:
            self._link.after_answer(lambda: self._restart_when_due(plan))
        return {"status": status_of_16(plan) if kind in KIND_OF_16 else plan.status}

    async def _restart_when_due(self, plan: ResetPlan) -> None:
        # The journal tells of no change: it is looked at again and again.
        while plan.wait_for_idle:
            if await self.idle():
                break
            await asyncio.sleep(IDLE_CHECK_S)
        await self._link.flushed()  # the answer (Accepted, Scheduled) is on the wire
        self._next_boot.set(plan.boot_reason)
        self._record_reset(f"{plan.boot_reason} requested by the CSMS")
        self._restart()
