"""Each EVSE's limit from one period to the next (pure): the allocation's target through the
ramp (balancer/ramp.py: cut at once, raise slowly, no self-made overshoot), what was decided,
and when a limit that did not change is sent again before its bounded profile lapses."""

from __future__ import annotations

import math

from balancer.allocate import Allocation
from balancer.config import LoopSettings
from balancer.fuse_tree import FuseTree
from balancer.model import SiteModel
from balancer.ramp import Commanded, Step, Turns, fit_into_headroom, next_limit, next_turns
from balancer.site import SiteState


class LimitRamp:
    def __init__(self) -> None:
        self.commanded: dict[str, Commanded] = {}  # what the ramp decided, sent or not
        self.turns: Turns = {}  # whose turn it is, for paused sessions to rotate
        self._sent_at: dict[str, float] = {}

    def limits_to_send(
        self,
        allocation: Allocation,
        state: SiteState,
        model: SiteModel,
        now: float,
        urgent: bool,
        loop: LoopSettings,
    ) -> dict[str, float]:
        """The limits to send this period, by EVSE key: those that changed, and those due to
        be sent again."""
        steps: dict[str, Step] = {}
        # Those the LC cannot limit are in the budget at their maximum already.
        tree = FuseTree.of(state.panels)
        fuses = {evse.evse_id: tree.resources(evse) for evse in state.evses if evse.obeys}
        for key, record in model.evses.items():
            in_session = record.transaction_id is not None
            if not (in_session or model.is_local_controller(record.identity)):
                continue
            if key not in allocation.limits:
                continue
            target = allocation.limits[key]
            previous = self.commanded.get(key)
            min_current = model.chargers[record.identity].settings.min_current_a
            limit = next_limit(target, previous, min_current, now, loop, urgent)
            steps[key] = Step(limit, target, previous, fuses.get(key, ()))
        limits = {key: step.proposed for key, step in steps.items()}
        if allocation.steered_room:  # balancing on a fresh reading: no self-made overshoot
            limits = fit_into_headroom(steps, allocation.steered_room, now, loop.reaction_time_s)
        to_send = {}
        for key, limit in limits.items():
            previous = steps[key].previous
            if previous is not None and limit == previous.limit:
                if now - self._sent_at.get(key, now) < loop.refresh_s:
                    continue  # unchanged, and its bounded profile is still far from lapsing
            else:
                was = 0.0 if previous is None else previous.limit
                self.commanded[key] = Commanded(limit, now, was)
            self._sent_at[key] = now
            to_send[key] = limit
        self.turns = next_turns(self.turns, limits, set(limits), now)
        return to_send

    def send_again(self, key: str) -> None:
        """Send the EVSE's limit again next period, changed or not (something removed it)."""
        if key in self._sent_at:
            self._sent_at[key] = -math.inf

    def forget(self, key: str) -> None:
        """The EVSE's session ended, or its charger left: its next limit starts afresh."""
        self.commanded.pop(key, None)
        self._sent_at.pop(key, None)
