"""The load balancer's state as the status page shows it: the grid connection and, per EVSE,
the limit its charger accepted, its priority and why the limit is what it is."""

from __future__ import annotations

from datetime import UTC, datetime

from balancer.control import LoadBalancer
from balancer.evse_plan import csms_limit, priority
from balancer.setup import Stage
from lc.status_page.snapshot import BalancerStatus, EvseControl
from lc.wording import LimitFacts, limit_reason


def balancer_status(balancer: LoadBalancer) -> BalancerStatus:
    allocation = balancer.last_allocation
    history = balancer.history.samples()
    paused = allocation.paused if allocation is not None else {}
    config = balancer.config
    evses = {}
    now = datetime.now(UTC)
    for key, record in balancer.model.evses.items():
        settings = config.charger(record.identity)
        # Shown: the limit the charger accepted; none for a session the LC cannot limit (not
        # set up yet, or ignoring its limits), whose reason says it is planned at its maximum.
        in_force = balancer.in_force.get(key)
        obeys = key not in balancer.disobedient and key not in balancer.unlimited
        limit = in_force.limit if in_force is not None and obeys else None
        set_up = balancer.set_ups.stage(record.identity) in (Stage.DONE, None)
        facts = LimitFacts(
            limit_a=limit,
            paused=paused.get(key),
            mode=allocation.mode if allocation is not None else None,
            obeys=obeys,
            max_a=settings.max_current_a,
            min_a=settings.min_current_a,
            safe_a=settings.safe_current_a,
            csms_limit_a=csms_limit(balancer.model, record, now),
            rotation_period_s=config.loop.rotation_period_s,
            set_up=set_up,
        )
        evses[key] = EvseControl(
            limit,
            paused[key].value if key in paused else None,
            obeys,
            priority=priority(balancer.model, record),
            reason=limit_reason(facts),
            set_up=set_up,
        )
    return BalancerStatus(
        mode=allocation.mode if allocation is not None else None,
        caps=balancer.cap.phase_cap_a,  # in effect: the CSMS's site limit may lower it
        margin=config.margin_a,
        measured=history[-1].currents if history else None,
        history=history,
        window_s=balancer.history.window_s,
        evses=evses,
        station_max=frozenset(balancer.station_max),
        panels=tuple(balancer.panel_loads),
    )
