"""Every EVSE as the allocator must plan it now: the site model's records with their
charger's settings, the priority and the limit the CSMS gave them, and what the ramp commanded.
The CSMS's limit on an EVSE is the composite of its profiles at that moment, by the same rules a
charger applies (ocpp_knowledge.composite)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from balancer.model import NO_READINGS, EvseRecord, SiteModel
from balancer.ramp import Commanded
from balancer.site import EvseState
from ocpp_knowledge.composite import composite_limit
from ocpp_knowledge.profiles import Transaction


def priority(model: SiteModel, record: EvseRecord) -> int:
    """The charger's configured priority plus what the CSMS gave the transaction, -9..9."""
    charger = model.chargers.get(record.identity)
    configured = 0 if charger is None else charger.settings.priority
    return max(-9, min(9, configured + record.csms_priority))


def csms_limit(model: SiteModel, record: EvseRecord, at: datetime) -> float | None:
    """The limit the CSMS's profiles put on this EVSE at `at`: their composite schedule."""
    charger = model.chargers.get(record.identity)
    if charger is None or not charger.csms_profiles:
        return None
    transaction = None
    if record.transaction_id is not None:
        transaction = Transaction(record.transaction_id, record.started_at or at)
    return composite_limit(
        charger.csms_profiles.values(),
        at,
        connector_id=record.evse_id,
        transaction=transaction,
        voltage_v=model.config.nominal_voltage_v,
    )


def evse_states(
    model: SiteModel,
    now: float,
    commanded: Mapping[str, Commanded],
    disobedient: set[str],
    turns: dict[str, tuple[float | None, float | None]],
) -> tuple[EvseState, ...]:
    """Every EVSE as the allocator must plan it now.

    An EVSE the LC cannot steer (charger gone, or seen ignoring its limit) is planned at
    what it may draw: its last limit, else its maximum.
    """
    states = []
    max_age = model.config.loop.measurement_max_age_s
    reaction_time_s = model.config.loop.reaction_time_s
    wall_now = model.wall_clock()
    for key, record in sorted(model.evses.items()):
        charger = model.chargers.get(record.identity)
        if charger is None:
            continue
        settings = charger.settings
        fresh = record.measured_at is not None and now - record.measured_at <= max_age
        steerable = charger.connected and settings.controllable and key not in disobedient
        charging_since, paused_since = turns.get(key, (None, None))
        max_current = settings.max_current_a
        command = commanded.get(key)
        if not charger.connected and command is not None:
            # It keeps its last limit until that lapses to its floor (the safe current).
            max_current = max(command.limit, settings.min_current_a, settings.safe_current_a)
        states.append(
            EvseState(
                evse_id=key,
                max_current=max_current,
                safe_current=settings.safe_current_a,
                min_current=settings.min_current_a,
                phase_map=settings.phase_rotation,
                phases_in_use=settings.phases,
                priority=priority(model, record),
                session=record.session,
                measured=record.measured if fresh else NO_READINGS,
                allocated=0.0 if command is None else command.limit,
                measured_before_limit=fresh
                and command is not None
                and record.measured_at is not None
                and record.measured_at < command.at + reaction_time_s,
                csms_limit=0.0 if record.suspended else csms_limit(model, record, wall_now),
                obeys=steerable,
                charging_since=charging_since,
                paused_since=paused_since,
                panel=settings.panel,
                drawing_phase=next(iter(record.drawn_phases))
                if len(record.drawn_phases) == 1
                else None,
            )
        )
    return tuple(states)
