"""What the status page shows, gathered from the running LC's parts at one moment."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from balancer.external_limit import ExternalInput
from lc.balancer_status import balancer_status
from lc.config import SiteConfig
from lc.security import LcSecurity
from lc.status_page.snapshot import (
    ExternalLimitStatus,
    SecurityStatus,
    StationStatus,
    StatusSnapshot,
)
from station.overrides import Overrides

if TYPE_CHECKING:
    from lc.app import LocalController

# The security log's latest events on the status page.
SECURITY_EVENTS_SHOWN = 10


async def status_snapshot(
    lc: LocalController, started_at: float, overrides: Overrides | None
) -> StatusSnapshot:
    """`started_at`: when the LC started (wall time); `overrides`: the CSMS's changes to the
    config, with a station link."""
    view, journal = lc.site_view, lc.router.journal
    return StatusSnapshot(
        time.time(),
        list(view.chargers.values()),
        list(view.ended),
        balancer_status(lc.balancer) if lc.balancer is not None else None,
        await journal.backlog() if journal is not None else {},
        lc.router.backlogs_waiting_for_charger(),
        expected=expected_chargers(lc.config),
        started_at=started_at,
        certificate_expiry=lc.certificate_expiry.earliest(),
        csms_certificate_invalid=lc.router.csms_certificate_invalid,
        station=_station_status(lc, overrides),
        external_limit=_external_limit_status(lc),
        security=_security_status(lc.security, with_station=lc.station is not None),
        software=lc.software.status(),
    )


def expected_chargers(config: SiteConfig) -> list[str]:
    """The chargers the config names, listed on the status page even while absent."""
    expected = set(config.router.allowed_identities or ())
    if config.balancer is not None:
        expected |= {charger.identity for charger in config.balancer.chargers}
    return sorted(expected)


def _security_status(security: LcSecurity, with_station: bool) -> SecurityStatus:
    return SecurityStatus(
        security.events.log.events[-SECURITY_EVENTS_SHOWN:][::-1],
        len(security.events.log.unsent()) if with_station else 0,
        security.network_profile_counts["relayed"],
        security.network_profile_counts["rejected"],
    )


def _external_limit_status(lc: LocalController) -> ExternalLimitStatus | None:
    if lc.external_limits is None or lc.balancer is None:
        return None
    now, limit = time.time(), lc.external_limits.limit
    return ExternalLimitStatus(
        limit.of(ExternalInput.HTTP, now),
        limit.of(ExternalInput.MODBUS, now),
        lc.balancer.cap,
    )


def _station_status(lc: LocalController, overrides: Overrides | None) -> StationStatus | None:
    station = lc.station
    if station is None:
        return None
    session, network = station.session, station.network
    return StationStatus(
        station.settings.identity,
        session.state.value,
        session.boot_status,
        station.reconnects,
        None if lc.balancer is None else lc.balancer.cap,
        {} if overrides is None else overrides.in_force(),
        network.last_connected,
        network.active.url,
    )
