"""The garage's fuse tree from the config: distribution panels under the grid connection.

A panel is fed from its parent (another panel, or the site's grid connection) through a fuse
per phase; its phase rotation says which parent phase feeds each of its phases, and a charger's
rotation is relative to its panel. Here the tree is put in order (parents first), checked
(unknown parents, cycles, a charger in two panels, a fuse above its parent's) and turned into
the allocator's PanelState snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from balancer.site import MeterReading, PanelState, PhaseValues, SiteState
from config_file.table import ConfigError

if TYPE_CHECKING:
    from balancer.config import MeterSettings  # which reads the panels' config with this module

SITE = "site"
"""The parent name of a panel fed straight from the grid connection."""

Rotation = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class PanelSettings:
    name: str
    key: str
    """Where it is in the config, e.g. "panels[1]", for messages."""
    fuse_a: PhaseValues
    """Per panel phase 1..3."""
    parent: str | None = None
    """None: fed from the grid connection."""
    phase_rotation: Rotation = (1, 2, 3)
    """The parent phase wired to panel phase 1, 2, 3."""
    site_phases: Rotation = (1, 2, 3)
    """The site phase wired to panel phase 1, 2, 3: the rotations on the way down composed."""
    meter: MeterSettings | None = None
    """Its own sub-meter, if it has one."""
    chargers: tuple[str, ...] = ()


def compose(parent_site_phases: Rotation, rotation: Rotation) -> Rotation:
    """The site phase of each phase below, from the site phases of the phases it is wired to."""
    first, second, third = (parent_site_phases[phase - 1] for phase in rotation)
    return first, second, third


def order_tree(panels: Iterable[PanelSettings]) -> tuple[PanelSettings, ...]:
    """The panels, parents before children, with their site phases composed; ConfigError names
    the key of a duplicate name, an unknown parent, a cycle or a charger in two panels."""
    by_name: dict[str, PanelSettings] = {}
    for panel in panels:
        if panel.name in by_name or panel.name == SITE:
            raise ConfigError(f"{panel.key}.name: {panel.name!r} is already taken")
        by_name[panel.name] = panel
    for panel in by_name.values():
        if panel.parent is not None and panel.parent not in by_name:
            raise ConfigError(f"{panel.key}.parent: no panel is named {panel.parent!r}")
    ordered: dict[str, PanelSettings] = {}
    for panel in by_name.values():
        _place(panel, by_name, ordered, ())
    owner: dict[str, str] = {}
    for panel in ordered.values():
        for identity in panel.chargers:
            if identity in owner:
                raise ConfigError(
                    f"{panel.key}.chargers: {identity!r} is already in panel {owner[identity]!r}"
                )
            owner[identity] = panel.name
    return tuple(ordered.values())


def _place(
    panel: PanelSettings,
    by_name: Mapping[str, PanelSettings],
    ordered: dict[str, PanelSettings],
    chain: tuple[str, ...],
) -> None:
    if panel.name in ordered:
        return
    if panel.name in chain:
        loop = " -> ".join((*chain[chain.index(panel.name) :], panel.name))
        raise ConfigError(f"{panel.key}.parent: the panels feed each other: {loop}")
    parent_site_phases: Rotation = (1, 2, 3)
    if panel.parent is not None:
        _place(by_name[panel.parent], by_name, ordered, (*chain, panel.name))
        parent_site_phases = ordered[panel.parent].site_phases
    site_phases = compose(parent_site_phases, panel.phase_rotation)
    ordered[panel.name] = replace(panel, site_phases=site_phases)


def fuse_warnings(panels: tuple[PanelSettings, ...], site_cap: PhaseValues) -> list[str]:
    """Fuses rated above the fuse feeding them: legal, but the larger one can never be used."""
    warnings = []
    by_name = {panel.name: panel for panel in panels}
    for panel in panels:
        parent = by_name.get(panel.parent) if panel.parent is not None else None
        above = parent.fuse_a if parent is not None else site_cap
        above_name = f"panel {parent.name!r}" if parent is not None else "the site's phase_cap_a"
        for phase, (fuse, parent_phase) in enumerate(
            zip(panel.fuse_a, panel.phase_rotation, strict=True), start=1
        ):
            if fuse > above[parent_phase - 1]:
                warnings.append(
                    f"{panel.key}.fuse_a: L{phase} {fuse:g} A is above {above_name} "
                    f"({above[parent_phase - 1]:g} A on the phase feeding it)"
                )
    return warnings


def panel_of(panels: tuple[PanelSettings, ...], identity: str) -> PanelSettings | None:
    for panel in panels:
        if identity in panel.chargers:
            return panel
    return None


def panel_states(
    panels: tuple[PanelSettings, ...], readings: Mapping[str, MeterReading | None]
) -> tuple[PanelState, ...]:
    """The allocator's view of the tree, with each sub-meter's latest complete reading."""
    return tuple(
        PanelState(
            name=panel.name,
            parent=panel.parent,
            fuse=panel.fuse_a,
            phase_map=panel.site_phases,
            metered=panel.meter is not None,
            meter=readings.get(panel.name) if panel.meter is not None else None,
            stale_after_s=None if panel.meter is None else panel.meter.stale_after_s,
        )
        for panel in panels
    )


@dataclass(frozen=True, slots=True)
class PanelLoad:
    """One panel as metrics and the status page show it, per panel phase L1..L3."""

    name: str
    parent: str | None
    fuse: PhaseValues
    current: PhaseValues | None
    """Its fresh sub-meter's reading; without a sub-meter, what the chargers below it report;
    None while its sub-meter is stale."""
    headroom: PhaseValues | None
    """Fuse - margin - its base load: what the EVSEs below it may draw. None in safe mode."""
    metered: bool


def panel_loads(state: SiteState, headroom: Mapping[str, PhaseValues]) -> list[PanelLoad]:
    """Every panel's load now, from a site state and its allocation's panel headroom."""
    loads = []
    parents = {panel.name: panel.parent for panel in state.panels}
    for panel in state.panels:
        current: PhaseValues | None
        if panel.metered:
            current = None if state.panel_meter_is_stale(panel) else panel.site_currents()
        else:
            current = _reported_below(state, panel.name, parents)
        room = headroom.get(panel.name)
        loads.append(
            PanelLoad(
                name=panel.name,
                parent=panel.parent,
                fuse=panel.fuse,
                current=None if current is None else _panel_phases(current, panel.phase_map),
                headroom=None if room is None else _panel_phases(room, panel.phase_map),
                metered=panel.metered,
            )
        )
    return loads


def _reported_below(state: SiteState, name: str, parents: Mapping[str, str | None]) -> PhaseValues:
    by_site = [0.0, 0.0, 0.0]
    for evse in state.evses:
        panel = evse.panel
        while panel is not None and panel != name:
            panel = parents[panel]
        if panel is None:
            continue
        for charger_phase, site_phase in enumerate(evse.phase_map):
            by_site[site_phase - 1] += abs(evse.measured[charger_phase] or 0.0)
    return by_site[0], by_site[1], by_site[2]


def _panel_phases(by_site: PhaseValues, site_phases: Rotation) -> PhaseValues:
    first, second, third = (by_site[site_phase - 1] for site_phase in site_phases)
    return first, second, third
