"""The current a charger may offer, from its installed charging profiles: OCPP 1.6 §3.13 and
2.0.1 K08 as pure functions (profiles + time + transaction → limit), so each rule is unit-tested.

Rules, in the order they are applied:

1. A profile counts for a connector (2.0.1: EVSE) when it was set on that connector or on 0 (the
   whole charger), and `validFrom <= now < validTo`.
2. A TxProfile counts only during a transaction, and only for that transaction when it names one.
3. A schedule starts at `startSchedule` (Absolute); at the transaction start (Relative, and a 1.6
   Absolute without `startSchedule`, "relative to start of charging"); at the latest daily or
   weekly repetition of `startSchedule` (Recurring). Without a transaction a relative schedule is
   read at its first period. A profile gives no limit before its start or once `duration` has
   passed since it: a lower stack level then takes over (1.6 errata 3.7).
4. Within a purpose, the highest stack level that gives a limit now wins; at equal stack levels
   the profile set on the connector itself wins over one set on connector 0 (1.6: a connector's
   TxDefaultProfile replaces the connector-0 one "only for that specific connector").
5. Composite = the minimum of the charger maximum (ChargePointMaxProfile /
   ChargingStationMaxProfile), the external constraints (2.0.1) and the TxProfile, or the
   TxDefaultProfile when no TxProfile gives a limit. None when nothing limits.
6. W limits are total power; they become A per phase as W / (voltage × phases), counting the
   phases the car draws on (when no car is known: the period's numberPhases, OCPP default 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from ocpp_knowledge.profiles import (
    ChargingProfile,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    Transaction,
)

NOMINAL_VOLTAGE_V = 230.0
DEFAULT_PHASES = 3  # OCPP: "numberPhases=3 will be assumed unless another number is given"

RECURRENCE = {Recurrency.DAILY: timedelta(days=1), Recurrency.WEEKLY: timedelta(weeks=1)}


@dataclass(frozen=True, slots=True)
class CompositePeriod:
    offset_s: float
    """Seconds from the start of the composite schedule."""
    limit_a: float | None
    """A per phase; None: nothing limits."""


def composite_limit(
    profiles: Iterable[ChargingProfile],
    now: datetime,
    *,
    connector_id: int = 1,
    transaction: Transaction | None = None,
    phases: int | None = None,
    voltage_v: float = NOMINAL_VOLTAGE_V,
) -> float | None:
    """The limit in A per phase on `connector_id` at `now`, or None when no profile limits it.

    `phases` is how many phases the car draws on (None: no car), used to turn W into A.
    """
    counting = [p for p in profiles if _counts(p, now, connector_id, transaction)]

    def purpose_limit(purpose: Purpose) -> float | None:
        candidates = sorted(
            (p for p in counting if p.purpose is purpose),
            key=lambda p: (p.stack_level, p.connector_id != 0),
            reverse=True,
        )
        for profile in candidates:
            limit = _schedule_limit(profile, now, transaction, phases, voltage_v)
            if limit is not None:
                return limit
        return None

    tx_limit = purpose_limit(Purpose.TX)
    limits = (
        purpose_limit(Purpose.STATION_MAX),
        purpose_limit(Purpose.EXTERNAL_CONSTRAINTS),
        purpose_limit(Purpose.TX_DEFAULT) if tx_limit is None else tx_limit,
    )
    return min((limit for limit in limits if limit is not None), default=None)


def composite_schedule(
    profiles: Iterable[ChargingProfile],
    start: datetime,
    duration_s: float,
    *,
    connector_id: int = 1,
    transaction: Transaction | None = None,
    phases: int | None = None,
    voltage_v: float = NOMINAL_VOLTAGE_V,
) -> list[CompositePeriod]:
    """The composite limit over `[start, start + duration_s)` as periods (GetCompositeSchedule):
    the limit is evaluated at every moment a profile can change it, equal neighbours merged."""
    profiles = list(profiles)
    end = start + timedelta(seconds=duration_s)
    moments = {start} | {
        moment
        for profile in profiles
        for moment in _change_moments(profile, start, end, transaction)
        if start < moment < end
    }
    periods: list[CompositePeriod] = []
    for moment in sorted(moments):
        limit = composite_limit(
            profiles,
            moment,
            connector_id=connector_id,
            transaction=transaction,
            phases=phases,
            voltage_v=voltage_v,
        )
        if not periods or periods[-1].limit_a != limit:
            periods.append(CompositePeriod((moment - start).total_seconds(), limit))
    return periods


def _counts(
    profile: ChargingProfile, now: datetime, connector_id: int, transaction: Transaction | None
) -> bool:
    if profile.connector_id not in (0, connector_id):
        return False
    if profile.valid_from is not None and now < profile.valid_from:
        return False
    if profile.valid_to is not None and now >= profile.valid_to:
        return False
    if profile.purpose is Purpose.TX:
        return transaction is not None and profile.transaction_id in (
            None,
            transaction.transaction_id,
        )
    return True


def _schedule_start(
    profile: ChargingProfile, now: datetime, transaction: Transaction | None
) -> datetime:
    start = profile.schedule.start
    if profile.kind is Kind.RECURRING and start is not None and profile.recurrency is not None:
        # The latest repetition at or before now; before the first one, the first one.
        repetitions = max(0, (now - start) // RECURRENCE[profile.recurrency])
        return start + repetitions * RECURRENCE[profile.recurrency]
    if profile.kind is not Kind.RELATIVE and start is not None:
        return start
    return now if transaction is None else transaction.started_at


def _schedule_limit(
    profile: ChargingProfile,
    now: datetime,
    transaction: Transaction | None,
    phases: int | None,
    voltage_v: float,
) -> float | None:
    schedule = profile.schedule
    elapsed_s = (now - _schedule_start(profile, now, transaction)).total_seconds()
    if elapsed_s < 0 or (schedule.duration_s is not None and elapsed_s >= schedule.duration_s):
        return None
    started = [period for period in schedule.periods if period.start_s <= elapsed_s]
    if not started:
        return None
    period = started[-1]
    if schedule.rate_unit is RateUnit.AMPERE:
        return period.limit
    drawing_phases = phases or period.number_phases or DEFAULT_PHASES
    return period.limit / (voltage_v * drawing_phases)


def _change_moments(
    profile: ChargingProfile, start: datetime, end: datetime, transaction: Transaction | None
) -> Iterator[datetime]:
    """Moments in time where `profile` can start, stop or change its limit."""
    if profile.valid_from is not None:
        yield profile.valid_from
    if profile.valid_to is not None:
        yield profile.valid_to
    for schedule_start in _schedule_starts(profile, start, end, transaction):
        for period in profile.schedule.periods:
            yield schedule_start + timedelta(seconds=period.start_s)
        if profile.schedule.duration_s is not None:
            yield schedule_start + timedelta(seconds=profile.schedule.duration_s)


def _schedule_starts(
    profile: ChargingProfile, start: datetime, end: datetime, transaction: Transaction | None
) -> Iterator[datetime]:
    schedule_start = _schedule_start(profile, start, transaction)
    if profile.kind is Kind.RECURRING and profile.recurrency is not None:
        while schedule_start < end:
            yield schedule_start
            schedule_start += RECURRENCE[profile.recurrency]
    elif transaction is not None or profile.schedule.start is not None:
        # Without a transaction a relative schedule is read at its first period: no changes.
        yield schedule_start
