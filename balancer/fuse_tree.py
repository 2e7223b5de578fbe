"""The fuses the allocation shares out, as numbered resources: the site phases L1..L3, the
power budget, then each distribution panel's fuse on site phase L1, L2, L3."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from balancer.site import SITE_PHASES, EvseState, PanelState, PhaseValues, SiteState

POWER = len(SITE_PHASES)
"""Resource index of the total power budget; 0..2 are the site phases L1..L3."""
FIRST_PANEL_RESOURCE = POWER + 1
"""Panels follow: three resources each, the panel's fuse on site phase L1, L2, L3."""


@dataclass(frozen=True, slots=True)
class FuseTree:
    """The fuses as resources: the site phases, the power budget, then each panel's three
    phases; where each panel's three start, and the path up from each."""

    panels: tuple[PanelState, ...]
    first_resource: Mapping[str, int]
    path: Mapping[str, tuple[str, ...]]
    """Panel name -> itself and every panel above it."""
    known: dict[tuple[str | None, tuple[int, ...]], tuple[int, ...]] = field(default_factory=dict)
    """resources() by (panel, site phases): many EVSEs share them."""

    @classmethod
    def of(cls, panels: tuple[PanelState, ...]) -> FuseTree:
        first_resource: dict[str, int] = {}
        path: dict[str, tuple[str, ...]] = {}
        for index, panel in enumerate(panels):  # parents come before their children
            first_resource[panel.name] = FIRST_PANEL_RESOURCE + 3 * index
            above = () if panel.parent is None else path[panel.parent]
            path[panel.name] = (panel.name, *above)
        return cls(panels, first_resource, path)

    def above(self, evse: EvseState) -> tuple[str, ...]:
        """The panels an EVSE's current passes through."""
        return () if evse.panel is None else self.path[evse.panel]

    def resources(self, evse: EvseState) -> tuple[int, ...]:
        """The phase resources one ampere of this EVSE loads: site phases, then panels."""
        site_phases = evse.site_phases
        found = self.known.get((evse.panel, site_phases))
        if found is None:
            own = [site_phase - 1 for site_phase in site_phases]
            for name in self.above(evse):
                first = self.first_resource[name]
                own.extend(first + site_phase - 1 for site_phase in site_phases)
            found = self.known[evse.panel, site_phases] = tuple(own)
        return found

    def loads(
        self, evse: EvseState, voltages: PhaseValues, *, with_power: bool
    ) -> tuple[tuple[int, float], ...]:
        """(resource, units per ampere) of this EVSE: 1 A per phase resource it loads, and with
        a kW cap its volts on the power budget."""
        resources = self.resources(evse)
        phase_count = len(evse.site_phases)
        loads = [(resource, 1.0) for resource in resources[:phase_count]]
        if with_power:
            loads.append((POWER, sum(voltages[site_phase - 1] for site_phase in evse.site_phases)))
        loads.extend((resource, 1.0) for resource in resources[phase_count:])
        return tuple(loads)

    def below(self, evses: Iterable[EvseState], name: str) -> list[EvseState]:
        return [evse for evse in evses if name in self.above(evse)]

    def limits(self, state: SiteState) -> list[float]:
        """What may flow per resource: cap - margin, the power placeholder, fuse - margin."""
        limits = [cap - state.margin for cap in state.phase_cap]
        if self.panels:
            limits.append(math.inf)  # the power budget is handled on its own
            for panel in self.panels:
                limits.extend(fuse - state.margin for fuse in panel.site_fuse())
        return limits

    def totals(self, draws: Iterable[tuple[EvseState, float]]) -> list[float]:
        """Current per phase resource of EVSEs drawing `amps` each, as exact sums."""
        size = FIRST_PANEL_RESOURCE + 3 * len(self.panels) if self.panels else len(SITE_PHASES)
        amounts: list[list[float]] = [[] for _ in range(size)]
        for evse, amps in draws:
            for resource in self.resources(evse):
                amounts[resource].append(amps)
        return [math.fsum(amount) for amount in amounts]
