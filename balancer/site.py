"""The site as the allocator sees it: immutable snapshots of the grid connection and its EVSEs.

Units: currents in amperes per phase, voltages in volts, times in monotonic seconds (the caller's
clock; nothing here reads one). Site phases are numbered 1..3 (L1..L3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from router.events import ChargerPhaseReadings

PhaseValues = tuple[float, float, float]
"""One value per site phase, L1..L3."""

SITE_PHASES = (1, 2, 3)


class SessionState(StrEnum):
    """What the EVSE's session needs from the allocator."""

    IDLE = "idle"
    """No transaction: gets 0 A."""
    STARTING = "starting"
    """Transaction started, car not drawing yet: its minimum is reserved, it will jump to it."""
    CHARGING = "charging"
    """Drawing current: shares the headroom."""
    SUSPENDED_EV = "suspended_ev"
    """The car paused itself: it keeps its minimum reserved so it can resume."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EvseState:
    """One EVSE (a charger connector) and its session, as the control loop knows it now."""

    evse_id: str
    """Stable id, e.g. "CP01/1" (charger identity / EVSE id); also the final tie-breaker."""
    max_current: float
    """Charger hardware or configured maximum, A per phase."""
    safe_current: float
    """Configured fallback while the site meter is stale: 0 or within [min_current, max_current]."""
    min_current: float = 6.0
    """Below this the car cannot charge (IEC 61851-1: 6 A), so the EVSE gets this or 0."""
    phase_map: tuple[int, int, int] = (1, 2, 3)
    """Site phase wired to charger phase 1, 2, 3 (phase rotation), e.g. (2, 3, 1)."""
    phases_in_use: Literal[1, 3] = 3
    """A 1-phase car (or 1-phase charger) loads only the site phase of charger phase 1."""
    priority: int = 0
    """OCPP chargingPriority: higher values are served first (2.0.1: -9..9, default 0)."""
    session: SessionState = SessionState.IDLE
    measured: ChargerPhaseReadings = (None, None, None)
    """Current per charger phase from MeterValues."""
    allocated: float = 0.0
    """Limit in force now; stands in for the draw of a charging EVSE with no measured current."""
    measured_before_limit: bool = False
    """`measured` was taken before the car could follow the limit in force (the limit was set
    less than the reaction time before it): the car may be on its way to `allocated` since."""
    csms_limit: float | None = None
    """Lowest limit the CSMS set on this EVSE (profiles seen passing through), A per phase."""
    obeys: bool = True
    """False once the charger was seen ignoring its limit: it is then planned at max_current."""
    charging_since: float | None = None
    """When the allocator last gave this session current (None while paused or new)."""
    paused_since: float | None = None
    """When the allocator paused this session (None while it has current)."""
    panel: str | None = None
    """The distribution panel it hangs from (a PanelState name); None: the grid connection."""
    drawing_phase: int | None = None
    """The one charger phase (1..3) its session has drawn on in readings of all three phases:
    a 1-phase car on a 3-phase charger, planned on that phase only. None: not seen (no such
    reading yet, or the car drew on more than one phase), planned on `phases_in_use`."""

    def __post_init__(self) -> None:
        if self.drawing_phase not in (None, *SITE_PHASES):
            raise ValueError(f"{self.evse_id}: drawing_phase {self.drawing_phase} is not 1..3")
        if sorted(self.phase_map) != list(SITE_PHASES):
            raise ValueError(
                f"{self.evse_id}: phase_map {self.phase_map} is not a permutation of 1, 2, 3"
            )
        if self.phases_in_use not in (1, 3):
            raise ValueError(
                f"{self.evse_id}: phases_in_use must be 1 or 3, not {self.phases_in_use}"
            )
        if not 0 < self.min_current <= self.max_current:
            raise ValueError(
                f"{self.evse_id}: need 0 < min_current ({self.min_current}) "
                f"<= max_current ({self.max_current})"
            )
        if self.safe_current != 0 and not (
            self.min_current <= self.safe_current <= self.max_current
        ):
            raise ValueError(
                f"{self.evse_id}: safe_current {self.safe_current} must be 0 or within "
                f"[{self.min_current}, {self.max_current}]"
            )
        if self.csms_limit is not None and self.csms_limit < 0:
            raise ValueError(f"{self.evse_id}: csms_limit {self.csms_limit} is negative")
        if self.charging_since is not None and self.paused_since is not None:
            raise ValueError(f"{self.evse_id}: a session is either charging or paused, not both")

    @property
    def site_phases(self) -> tuple[int, ...]:
        """The site phases this EVSE loads, in charger phase order: where a 1-phase car was
        seen on a 3-phase charger, the one its phase is wired to; the others are left to other
        sessions."""
        if self.drawing_phase is not None and self.phases_in_use == 3:
            return (self.phase_map[self.drawing_phase - 1],)
        return self.phase_map[: self.phases_in_use]


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterReading:
    """One complete reading of the grid connection meter.

    A reading with any phase missing (timeout, sentinel value) is no reading: pass None instead,
    never 0 A.
    """

    currents: PhaseValues
    """Current per site phase; the magnitude is used (a fuse sees |I| whatever the direction)."""
    read_at: float
    voltages: PhaseValues | None = None
    """Voltage per site phase, if the meter reports it; otherwise the site's nominal voltage."""

    def __post_init__(self) -> None:
        if self.voltages is not None and min(self.voltages) <= 0:
            raise ValueError(f"meter voltages must be positive, got {self.voltages}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PanelState:
    """A distribution panel (a floor's sub-board, a row's group fuse) between the grid
    connection and some EVSEs: its fuse must hold too."""

    name: str
    parent: str | None = None
    """The panel it is fed from; None: straight from the grid connection."""
    fuse: PhaseValues
    """Fuse rating per panel phase 1..3, A."""
    phase_map: tuple[int, int, int] = (1, 2, 3)
    """Site phase wired to panel phase 1, 2, 3 (the rotations on the way down composed)."""
    metered: bool = False
    """It has a sub-meter of its own: its base load is measured, and a stale one means safe
    currents for its sessions."""
    meter: MeterReading | None = None
    """The sub-meter's latest complete reading, currents per panel phase."""
    stale_after_s: float | None = None
    """A sub-meter reading older than this counts as none; None: the site meter's threshold."""

    def __post_init__(self) -> None:
        if sorted(self.phase_map) != list(SITE_PHASES):
            raise ValueError(f"panel {self.name}: phase_map {self.phase_map} is not a permutation")
        if min(self.fuse) <= 0:
            raise ValueError(f"panel {self.name}: fuse must be positive, got {self.fuse}")
        if self.meter is not None and not self.metered:
            raise ValueError(f"panel {self.name}: a meter reading without a sub-meter")

    def site_fuse(self) -> PhaseValues:
        """The fuse rating per site phase L1..L3."""
        return _to_site_phases(self.fuse, self.phase_map)

    def site_currents(self) -> PhaseValues | None:
        """The sub-meter's currents per site phase, if there is a reading."""
        if self.meter is None:
            return None
        return _to_site_phases(self.meter.currents, self.phase_map)


def _to_site_phases(values: PhaseValues, phase_map: tuple[int, int, int]) -> PhaseValues:
    by_site = [0.0, 0.0, 0.0]
    for value, site_phase in zip(values, phase_map, strict=True):
        by_site[site_phase - 1] = value
    return by_site[0], by_site[1], by_site[2]


@dataclass(frozen=True, slots=True)
class BaseLoads:
    """What a decision took as base load (current that is not the managed EVSEs'), per site
    phase: at the grid connection, and under each panel by name (one without a fresh sub-meter
    carries what the sub-meters below it measured)."""

    site: PhaseValues
    panels: Mapping[str, PhaseValues]


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteState:
    """Everything allocate() needs: the grid connection, the meter, the EVSEs, and the time."""

    phase_cap: PhaseValues
    """Grid connection limit per site phase (fuse rating or contract), A."""
    now: float
    meter: MeterReading | None
    """Latest complete reading, None if there has never been one."""
    meter_stale_after_s: float
    """A reading older than this counts as no reading."""
    evses: tuple[EvseState, ...] = ()
    margin: float = 0.0
    """Kept free on every phase for fluctuations within one control period, A."""
    power_cap_kw: float | None = None
    """Optional import cap on total power over the three phases."""
    nominal_voltage: float = 230.0
    """Phase-to-neutral voltage used where the meter reports none."""
    rotation_period_s: float = 900.0
    """When sessions must take turns, a session keeps its turn at least this long."""
    panels: tuple[PanelState, ...] = ()
    """The distribution panels, a tree under the grid connection; parents before children."""
    base_load_before: BaseLoads | None = None
    """The base loads the previous decision found (None: none, e.g. in safe mode)."""

    def __post_init__(self) -> None:
        # 0 is a cap: a site limit of 0 A (from the CSMS, an EMS, a parent LC) pauses everything.
        if min(self.phase_cap) < 0:
            raise ValueError(f"phase_cap must not be negative on any phase, got {self.phase_cap}")
        if self.margin < 0:
            raise ValueError(f"margin must not be negative, got {self.margin}")
        if self.power_cap_kw is not None and self.power_cap_kw <= 0:
            raise ValueError(f"power_cap_kw must be positive, got {self.power_cap_kw}")
        if self.nominal_voltage <= 0:
            raise ValueError(f"nominal_voltage must be positive, got {self.nominal_voltage}")
        if self.meter_stale_after_s <= 0:
            raise ValueError(
                f"meter_stale_after_s must be positive, got {self.meter_stale_after_s}"
            )
        if len({evse.evse_id for evse in self.evses}) != len(self.evses):
            raise ValueError("evse_id values must be unique")
        known: set[str] = set()
        for panel in self.panels:
            if panel.parent is not None and panel.parent not in known:
                raise ValueError(f"panel {panel.name}: parent {panel.parent} is not listed before")
            if panel.name in known:
                raise ValueError(f"panel {panel.name} is listed twice")
            known.add(panel.name)
        for evse in self.evses:
            if evse.panel is not None and evse.panel not in known:
                raise ValueError(f"{evse.evse_id}: unknown panel {evse.panel}")

    @property
    def meter_is_stale(self) -> bool:
        """No reading, or the last one is older than the configured threshold."""
        return self.meter is None or self.now - self.meter.read_at > self.meter_stale_after_s

    def panel_meter_is_stale(self, panel: PanelState) -> bool:
        """A panel with a sub-meter that has no reading, or one older than the threshold."""
        if not panel.metered:
            return False
        stale_after_s = panel.stale_after_s or self.meter_stale_after_s
        return panel.meter is None or self.now - panel.meter.read_at > stale_after_s
