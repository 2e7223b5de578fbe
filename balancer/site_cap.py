"""The cap the balancer plans under: the config file's per phase (as SetVariables left it),
lowered by the site limit the CSMS set on the LC and by an EMS's external limit (A per phase);
the lowest binds."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from balancer.site import PhaseValues


class CapSource(StrEnum):
    CONFIG = "config"
    CSMS = "CSMS"
    EXTERNAL = "EMS"


@dataclass(frozen=True, slots=True)
class SiteCap:
    phase_cap_a: PhaseValues
    binding: CapSource
    """The source whose limit is lowest, when below the config's cap on at least one phase
    (on a tie between the CSMS and the EMS: the CSMS)."""


def site_cap(
    config_cap_a: PhaseValues, csms_limit_a: float | None, external_limit_a: float | None = None
) -> SiteCap:
    limits = [
        (limit, source)
        for limit, source in (
            (csms_limit_a, CapSource.CSMS),
            (external_limit_a, CapSource.EXTERNAL),
        )
        if limit is not None
    ]
    if not limits:
        return SiteCap(config_cap_a, CapSource.CONFIG)
    lowest, source = min(limits, key=lambda entry: entry[0])
    if all(lowest >= cap for cap in config_cap_a):
        return SiteCap(config_cap_a, CapSource.CONFIG)
    low = [min(cap, lowest) for cap in config_cap_a]
    return SiteCap((low[0], low[1], low[2]), source)
