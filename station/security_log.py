"""The LC's security log (2.0.1 A04), sans-I/O: events and time in, the kept events and the
critical ones still owed to the CSMS out.

Bounded: past `capacity` the oldest tenth goes at once and one SecurityLogWasCleared event
says how many went and from when to when (one such record per batch, not one per event).
Rate-limited per type: past `burst` events of one type within `window_s`, further ones are
counted, not kept, and the next one kept says how many were suppressed. Anything on the site
network can cause events (a charger's bad certificate, invalid frames), and none of it may
flood the log or push the LC's own record of a reboot out of it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from ocpp_knowledge.security_events import TECH_INFO_LENGTH, TYPE_LENGTH, is_critical

CLEARED = "SecurityLogWasCleared"


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    seq: int  # increasing, never reused: the order of the log and of delivery
    type: str
    timestamp: float  # wall time
    tech_info: str
    critical: bool
    sent: bool = False  # a critical event the CSMS has acknowledged


@dataclass(frozen=True, slots=True)
class EventRate:
    burst: int = 10
    window_s: float = 60.0


DEFAULT_RATE = EventRate()


@dataclass(slots=True)
class _Window:
    start: float
    kept: int = 0
    suppressed: int = 0


class SecurityLog:
    def __init__(
        self,
        capacity: int = 1000,
        rate: EventRate = DEFAULT_RATE,
        events: Iterable[SecurityEvent] = (),
    ) -> None:
        if capacity < 10:
            raise ValueError("a security log keeps at least 10 events")
        self.capacity = capacity
        self._rate = rate
        self._events: deque[SecurityEvent] = deque(sorted(events, key=lambda e: e.seq))
        self._next_seq = self._events[-1].seq + 1 if self._events else 1
        self._windows: dict[str, _Window] = {}
        self.suppressed: Counter[str] = Counter()  # by type, since start

    # -- in -----------------------------------------------------------------------------------

    def record(self, event_type: str, tech_info: str, now: float) -> list[SecurityEvent]:
        """Keep one event; the events kept (none when rate-limited, with a SecurityLogWasCleared
        one when the bound dropped older events)."""
        window = self._windows.get(event_type)
        if window is None or now - window.start >= self._rate.window_s:
            held_back = window.suppressed if window is not None else 0
            window = self._windows[event_type] = _Window(now)
            if held_back:
                tech_info = f"{tech_info} ({held_back} similar events suppressed before)"
        if window.kept >= self._rate.burst:
            window.suppressed += 1
            self.suppressed[event_type] += 1
            return []
        window.kept += 1
        kept = self._trim(now)
        kept.append(self._append(event_type, tech_info, now))
        return kept

    def delivered(self, seq: int) -> None:
        """The CSMS acknowledged the SecurityEventNotification of event `seq`."""
        for index, event in enumerate(self._events):
            if event.seq == seq:
                self._events[index] = replace(event, sent=True)
                return

    # -- out ----------------------------------------------------------------------------------

    @property
    def events(self) -> list[SecurityEvent]:
        """Oldest first."""
        return list(self._events)

    def unsent(self) -> list[SecurityEvent]:
        """Critical events the CSMS has not acknowledged, oldest first."""
        return [event for event in self._events if event.critical and not event.sent]

    def between(self, oldest: float | None, latest: float | None) -> list[SecurityEvent]:
        """The events from `oldest` to `latest` (wall times, both included; None: open)."""
        return [
            event
            for event in self._events
            if (oldest is None or event.timestamp >= oldest)
            and (latest is None or event.timestamp <= latest)
        ]

    # -- inside -------------------------------------------------------------------------------

    def _append(self, event_type: str, tech_info: str, now: float) -> SecurityEvent:
        event = SecurityEvent(
            self._next_seq,
            event_type[:TYPE_LENGTH],
            # To the millisecond, as OCPP carries times: a GetLog's bounds then match exactly.
            round(now, 3),
            tech_info[:TECH_INFO_LENGTH],
            is_critical(event_type),
        )
        self._next_seq += 1
        self._events.append(event)
        return event

    def _trim(self, now: float) -> list[SecurityEvent]:
        # Room for the new event and the record of what was dropped.
        if len(self._events) + 1 <= self.capacity:
            return []
        dropped = [self._events.popleft() for _ in range(max(2, self.capacity // 10))]
        first, last = dropped[0].timestamp, dropped[-1].timestamp
        unsent = sum(1 for event in dropped if event.critical and not event.sent)
        info = f"{len(dropped)} oldest events dropped (from {first:.0f} to {last:.0f})"
        if unsent:
            info += f", {unsent} of them critical and not yet sent"
        return [self._append(CLEARED, info, now)]


def to_json(events: Iterable[SecurityEvent]) -> list[dict[str, Any]]:
    return [asdict(event) for event in events]


def from_json(data: object) -> list[SecurityEvent]:
    """The events stored with `to_json`; what does not read as one is left out."""
    if not isinstance(data, list):
        return []
    events = []
    for item in data:
        try:
            events.append(
                SecurityEvent(
                    int(item["seq"]),
                    str(item["type"]),
                    float(item["timestamp"]),
                    str(item["tech_info"]),
                    bool(item["critical"]),
                    bool(item["sent"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return events
