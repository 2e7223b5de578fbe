"""The LC's security log in the running LC: every part reports to it (`events.record`), the
router's observations reach it, the CSMS reads it with GetLog and hears the critical events
over the LC's own link. The log file lives beside the journal (or the station state file);
with neither, in memory only."""

from __future__ import annotations

import logging
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from lc.config import SiteConfig
from router import events as ev
from station.config import package_version
from station.diagnostics_log import RecentLogLines
from station.link import StationLink
from station.log_upload import LogUploads, lc_logs
from station.security_events import SecurityEvents
from supervision.tasks import Tasks

LOG_FILE = "ocpp-lc-security-log.json"
# The LC's own event type for a CSMS's SetNetworkProfile to a charger (not in the appendix's
# list: a charger's network profile is the LC's concern only because it routes the charger).
NETWORK_PROFILE_EVENT = "ChargerNetworkProfileRequested"


def security_log_path(config: SiteConfig) -> Path | None:
    if config.router.hold is not None:
        return config.router.hold.journal_path.parent / LOG_FILE
    if config.station is not None:
        return config.station.state_path.parent / LOG_FILE
    return None


class LcSecurity:
    def __init__(self, config: SiteConfig) -> None:
        self.registry = CollectorRegistry()
        self.events = SecurityEvents(security_log_path(config), registry=self.registry)
        self.recent_lines = RecentLogLines()
        self.network_profiles = Counter(
            "ocpp_lc_charger_network_profile_requests",
            "SetNetworkProfile calls of the CSMS to chargers, relayed or rejected by the LC",
            ["outcome"],
            registry=self.registry,
        )
        self.network_profile_counts = {"relayed": 0, "rejected": 0}
        self._started = False
        self._stopped_for: str | None = None

    def observe(self, event: ev.Event) -> None:
        """A router observation: the security events among them go into the log."""
        if isinstance(event, ev.SecurityEventRaised):
            where = f"{event.identity}: " if event.identity else ""
            self.events.record(event.type, where + event.tech_info)
        elif isinstance(event, ev.NetworkProfileIntercepted):
            outcome = "rejected" if event.rejected else "relayed"
            self.network_profiles.labels(outcome).inc()
            self.network_profile_counts[outcome] += 1
            self.events.record(
                NETWORK_PROFILE_EVENT,
                f"{event.identity}: the CSMS sent SetNetworkProfile for slot "
                f"{event.configuration_slot}, {outcome} by the LC",
            )

    def start(self, station: StationLink | None, tasks: Tasks) -> None:
        """Keep the log, with a link answer GetLog and send the critical events over it."""
        logging.getLogger().addHandler(self.recent_lines)
        if station is not None:
            station.record_security_event = self.events.record
            LogUploads(station, lc_logs(self.events.log, self.recent_lines), tasks).wire()
        self.events.start(station)

    def started(self) -> None:
        """The LC is up: every part started (a failed start is no start)."""
        self._started = True
        self.events.record("StartupOfTheDevice", f"OCPP Local Controller {package_version()}")

    def reset(self, reason: str) -> None:
        """The LC is about to stop or restart (`reason`: why, e.g. a Reset from the CSMS)."""
        if self._started and self._stopped_for is None:
            self._stopped_for = reason
            self.events.record("ResetOrReboot", reason)

    async def stop(self) -> None:
        self.reset("the LC stopped")
        await self.events.stop()
        logging.getLogger().removeHandler(self.recent_lines)
