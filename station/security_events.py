"""The security log at work: `SecurityEvents.record` is the `RecordSecurityEvent` every part
of the LC reports to. It keeps the events (station.security_log) in a private file, rewritten
off the event loop after each change, and sends the critical ones to the CSMS over the LC's
own link with SecurityEventNotification, one after the other in their order. While the CSMS
is away they wait in the file: a restart does not lose them. Without a link (no [station])
the log is kept all the same."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from config_file.private_file import write_private
from ocpp_knowledge.ocpp_time import to_ocpp_time
from station.link import StationCallFailed, StationLink
from station.security_log import (
    DEFAULT_RATE,
    EventRate,
    SecurityEvent,
    SecurityLog,
    from_json,
    to_json,
)
from station.session import LINK_LOST
from supervision.tasks import Tasks

log = logging.getLogger(__name__)

NOTIFICATION = "SecurityEventNotification"
# A CSMS that keeps refusing one notification (a CALLERROR) gets it this often, then the next.
REFUSALS_BEFORE_GIVING_UP = 5
REFUSED_RETRY_S = 10.0
# Events of every start and stop: logged as information, not as a warning.
ROUTINE = frozenset({"StartupOfTheDevice", "ResetOrReboot"})


class SecurityEventMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "ocpp_lc_security_events",
            "The LC's own security events, by type (suppressed ones included)",
            ["type"],
            registry=registry,
        )
        self.suppressed = Counter(
            "ocpp_lc_security_events_suppressed",
            "Security events not kept because their type came too often",
            ["type"],
            registry=registry,
        )
        self.unsent = Gauge(
            "ocpp_lc_security_events_unsent",
            "Critical security events the CSMS has not acknowledged yet",
            registry=registry,
        )


class SecurityEvents:
    def __init__(
        self,
        path: Path | None,
        capacity: int = 1000,
        rate: EventRate = DEFAULT_RATE,
        registry: CollectorRegistry | None = None,
    ) -> None:
        """`path`: the file the log is kept in; None keeps it in memory only."""
        self._path = path
        self.log = SecurityLog(capacity, rate, _load(path))
        self.metrics = SecurityEventMetrics(registry or CollectorRegistry())
        self.metrics.unsent.set_function(lambda: len(self.log.unsent()))
        self._changed = asyncio.Event()  # to write the file
        self._critical = asyncio.Event()  # to send
        self._tasks = Tasks("security log")
        # The last write at stop may meet one still running in its thread (a cancelled task
        # does not stop its thread): one at a time, both write the same temporary file.
        self._writing = threading.Lock()

    def record(self, event_type: str, tech_info: str) -> None:
        """Keep an event of the LC's own; a critical one goes to the CSMS too."""
        self.metrics.events.labels(event_type).inc()
        kept = self.log.record(event_type, tech_info, time.time())
        if not kept:
            self.metrics.suppressed.labels(event_type).inc()
            return
        for event in kept:
            level = logging.INFO if event.type in ROUTINE else logging.WARNING
            log.log(level, "security event %s: %r", event.type, event.tech_info)
        self._changed.set()
        if any(event.critical for event in kept):
            self._critical.set()

    def start(self, link: StationLink | None) -> None:
        """Write changes to the file; with a link, send the critical events over it."""
        if self._path is not None:
            self._tasks.spawn(self._write_changes(self._path), "security log file")
        if link is not None:
            self._tasks.spawn(self._send_critical(link), "security event notifications")

    async def stop(self) -> None:
        """Stop sending; write what changed since the last write."""
        await self._tasks.stop()
        if self._path is not None and self._changed.is_set():
            self._write(self._path, self.log.events)

    async def _write_changes(self, path: Path) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            await asyncio.to_thread(self._write, path, self.log.events)

    async def _send_critical(self, link: StationLink) -> None:
        refusals = 0
        while True:
            unsent = self.log.unsent()
            if not unsent:
                self._critical.clear()
                await self._critical.wait()
                continue
            event = unsent[0]
            try:
                wording = link.session.dialect.security_event_type
                await link.call(NOTIFICATION, notification(event, wording(event.type)))
            except StationCallFailed as exc:
                # Waiting in the link's queue is the wait for the CSMS: a lost link is no
                # refusal, the notification is sent again once the CSMS is back.
                if str(exc) == LINK_LOST:
                    continue
                refusals += 1
                log.warning("%s %s not acknowledged: %s", NOTIFICATION, event.type, exc)
                if refusals < REFUSALS_BEFORE_GIVING_UP:
                    await asyncio.sleep(REFUSED_RETRY_S)
                    continue
                log.error("%s %s dropped after %d refusals", NOTIFICATION, event.type, refusals)
            refusals = 0
            self.log.delivered(event.seq)
            self._changed.set()

    def _write(self, path: Path, events: list[SecurityEvent]) -> None:
        with self._writing:
            write_private(path, json.dumps(to_json(events)).encode())


def notification(event: SecurityEvent, event_type: str) -> dict[str, str]:
    """`event_type`: the event's type in the words of the link's OCPP version."""
    payload = {
        "type": event_type,
        "timestamp": to_ocpp_time(datetime.fromtimestamp(event.timestamp, UTC)),
    }
    if event.tech_info:
        payload["techInfo"] = event.tech_info
    return payload


def _load(path: Path | None) -> list[SecurityEvent]:
    if path is None:
        return []
    try:
        return from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.error("%s: unreadable, the security log starts empty: %s", path, exc)
        return []
