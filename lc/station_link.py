"""The LC's own connection to the CSMS as its config gives it: its identity, the session in the
dialect the config names, how to dial (the router's settings where it has none of its own)
and its network profiles."""

from __future__ import annotations

from lc.config import SiteConfig
from lc.station_security import BasicAuthPassword
from router.schemas import default_registry
from router.upstream import UpstreamSettings
from station.boot_reason import NextBootReason
from station.config import network_profiles
from station.link import StationLink, StationSettings
from station.session import StationSession


def station_link(config: SiteConfig) -> StationLink | None:
    """The LC's own connection to the CSMS, when the config gives it an identity."""
    station = config.station
    if station is None:
        return None
    boot_reason = NextBootReason(station.state_path.parent).take()
    session = StationSession(
        station.description, default_registry(), station.timers, boot_reason, station.dialect
    )
    dialer = UpstreamSettings(
        base_url=station.csms_url,
        connect_timeout_s=config.router.connect_timeout_s,
        ping_interval_s=config.router.ping_interval_s,
        max_frame_bytes=config.router.session.max_frame_chars,
        # A wss:// profile the CSMS sets is dialled with the router's TLS settings too.
        ssl_context=station.ssl_context or config.router.upstream_ssl,
    )
    password = BasicAuthPassword(station).value  # the CSMS may have rotated it (A01)
    settings = StationSettings(station.identity, password, station.backoff)
    return StationLink(settings, session, dialer, network_profiles(station, config.router))
