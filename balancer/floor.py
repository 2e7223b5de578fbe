"""The LC's profiles on a charger, where they sit (pure): the floor, a TxDefaultProfile on EVSE
0 at the charger's safe current without end, and the dynamic limits one stack level above it.

The floor is what a charger falls back to when the LC's dynamic limits lapse (the LC stopped,
its link dropped); the CSMS may remove it, and the LC installs it again.
"""

from __future__ import annotations

from balancer.config import ChargerSettings, LoopSettings
from balancer.profiles import Capabilities, ProfileTarget, as_station_max, installed_profile
from ocpp_knowledge.profiles import cleared_by, profile_from_json
from router import events as ev
from router.frames import OcppVersion


def floor_target(
    loop: LoopSettings, settings: ChargerSettings, capabilities: Capabilities, station_max: bool
) -> ProfileTarget:
    """The charger's safe current on EVSE 0, without end (`station_max`: as its charger
    maximum)."""
    floor = ProfileTarget(
        evse_id=0,
        profile_id=loop.profile_id_base,
        stack_level=floor_stack_level(loop, capabilities),
        limit_a=settings.safe_current_a,
        phases=settings.phases,
    )
    return as_station_max(floor) if station_max else floor


def floor_stack_level(loop: LoopSettings, capabilities: Capabilities) -> int:
    """The floor's stack level; the dynamic limit goes one above it."""
    wanted = loop.stack_level
    if capabilities.max_stack_level is not None and wanted + 1 > capabilities.max_stack_level:
        return max(capabilities.max_stack_level - 1, 0)
    return wanted


def floor_removed_by(
    event: ev.ChargingProfileSet | ev.ChargingProfileCleared,
    version: OcppVersion,
    floor: ProfileTarget,
    capabilities: Capabilities,
    voltage: float,
) -> bool:
    """Whether a CSMS call the charger accepted removed the LC's `floor`: a clear that matches
    it, or a profile of the same purpose and stack level on EVSE 0, which replaces it."""
    installed = installed_profile(version, floor, capabilities.watts_only, voltage)
    if isinstance(event, ev.ChargingProfileCleared):
        return cleared_by(installed, event.criteria)
    try:
        profile = profile_from_json(event.evse_id, event.profile, version is OcppVersion.V16)
    except (KeyError, ValueError, TypeError):
        return False
    return profile.profile_id != installed.profile_id and (
        profile.connector_id,
        profile.purpose,
        profile.stack_level,
    ) == (installed.connector_id, installed.purpose, installed.stack_level)
