"""The cap the balancer plans under: the config file's per phase (as SetVariables left it),
lowered by the site limit the CSMS set on the LC (A per phase), whichever is lower binds."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from balancer.site import PhaseValues


class CapSource(StrEnum):
    CONFIG = "config"
    CSMS = "CSMS"


@dataclass(frozen=True, slots=True)
class SiteCap:
    phase_cap_a: PhaseValues
    binding: CapSource
    """CSMS when its limit is below the config's cap on at least one phase."""


def site_cap(config_cap_a: PhaseValues, csms_limit_a: float | None) -> SiteCap:
    if csms_limit_a is None or all(csms_limit_a >= cap for cap in config_cap_a):
        return SiteCap(config_cap_a, CapSource.CONFIG)
    low = [min(cap, csms_limit_a) for cap in config_cap_a]
    return SiteCap((low[0], low[1], low[2]), CapSource.CSMS)
