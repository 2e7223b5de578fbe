"""The load balancer's part of the site config: [site], [meter], [balancer], [[chargers]] and
[[panels]].

Checked at load: every key's type and range, the meter maps, the panel tree, and that the
chargers' safe currents together fit under the cap on every phase and under every panel's
fuse (they are what the site draws while the meter is stale, and the floor each charger falls
back to if the LC dies), beside the chargers configured as not controllable at their maximum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from balancer.panels import (
    SITE,
    PanelSettings,
    Rotation,
    compose,
    fuse_warnings,
    order_tree,
    panel_of,
    panel_states,
)
from balancer.safe_currents import check_safe_currents_fit
from balancer.site import EvseState, PhaseValues
from config_file.table import ConfigError, Table, charger_identity
from modbus.custom_map import custom_map_from_dict
from modbus.errors import MeterMapError
from modbus.known_maps import known_map, known_map_names
from modbus.link import MeterLink, RtuOverTcpLink, SerialLink, TcpLink
from modbus.meter_map import MeterMap
from modbus.reader import MeterConfig

TRANSPORTS = ("tcp", "rtu-over-tcp", "rtu")
# What a charger's min_current_a may be, in the config file and as the CSMS sets it.
MIN_CURRENT_RANGE_A = (1.0, 32.0)


@dataclass(frozen=True, slots=True)
class ChargerSettings:
    """How one charger is wired and what it may draw; also the defaults for unlisted ones."""

    identity: str
    max_current_a: float
    safe_current_a: float
    min_current_a: float = 6.0
    phases: Literal[1, 3] = 3
    phase_rotation: Rotation = (1, 2, 3)  # site phases (config: relative to its panel)
    priority: int = 0
    evses: int = 1  # EVSEs (1.6: connectors) that can each run a session
    # False: known to ignore charging profiles; planned at max_current, in the meter-loss check too
    controllable: bool = True
    panel: str | None = None  # the distribution panel it hangs from; None: the grid connection
    # Another Local Controller (a sub-board's): one charger whose EVSE 0 is its whole site,
    # its demand its own MeterValues on EVSE 0, limited with ChargingStationMaxProfile.
    local_controller: bool = False
    # With local_controller: the chargers behind it, which it balances (this LC relays them).
    chargers_behind: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoopSettings:
    period_s: float = 1.0
    reaction_time_s: float = 10.0
    raise_fraction: float = 0.25
    deadband_a: float = 1.0
    stack_level: int = 8
    profile_id_base: int = 870000
    profile_duration_s: float = 300.0
    refresh_s: float = 120.0
    call_timeout_s: float = 10.0
    setup_timeout_s: float = 3.0
    setup_retry_s: float = 30.0
    obey_tolerance_a: float = 2.0
    measurement_max_age_s: float = 30.0
    rotation_period_s: float = 900.0


@dataclass(frozen=True, slots=True)
class MeterSettings:
    reader: MeterConfig
    stale_after_s: float = 5.0


@dataclass(frozen=True, slots=True)
class BalancerConfig:
    phase_cap_a: PhaseValues
    meter: MeterSettings
    margin_a: float = 0.0
    power_cap_kw: float | None = None
    nominal_voltage_v: float = 230.0
    loop: LoopSettings = field(default_factory=LoopSettings)
    chargers: tuple[ChargerSettings, ...] = ()
    unlisted_charger: ChargerSettings = ChargerSettings("*", 16.0, 0.0)
    panels: tuple[PanelSettings, ...] = ()
    """The distribution panels, parents before children."""
    warnings: tuple[str, ...] = ()
    """What is allowed but probably not meant, for check-config and the log."""

    def behind_local_controller(self, identity: str) -> bool:
        """The charger hangs behind another LC, which balances it: this one leaves it alone."""
        return any(identity in charger.chargers_behind for charger in self.chargers)

    def charger(self, identity: str) -> ChargerSettings:
        """A charger's settings, its phase rotation given in site phases."""
        for charger in self.chargers:
            if charger.identity == identity:
                return charger
        return _in_panel(replace(self.unlisted_charger, identity=identity), self.panels)


def _in_panel(charger: ChargerSettings, panels: tuple[PanelSettings, ...]) -> ChargerSettings:
    """The charger placed in the panel that lists it, its rotation (relative to the panel)
    turned into site phases."""
    panel = panel_of(panels, charger.identity)
    if panel is None:
        return charger
    rotation = compose(panel.site_phases, charger.phase_rotation)
    return replace(charger, panel=panel.name, phase_rotation=rotation)


def _phase_values(table: Table, name: str) -> PhaseValues:
    value = table.raw(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        values = [float(value)] * 3
    elif isinstance(value, list) and len(value) == 3:
        values = [float(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
    else:
        values = []
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ConfigError(
            f"{table.key(name)}: expected a positive number of amperes or a list of "
            f"three (L1, L2, L3), got {value!r}"
        )
    return values[0], values[1], values[2]


def _meter_map(table: Table) -> MeterMap:
    try:
        if table.has("custom_map"):
            return custom_map_from_dict(
                table.table("custom_map").raw_table(), key=table.key("custom_map")
            )
        name = table.choice("map", known_map_names())
        return known_map(name, key=table.key("map"))
    except MeterMapError as exc:
        raise ConfigError("; ".join(exc.problems)) from exc


def _meter_link(table: Table) -> MeterLink:
    transport = table.choice("transport", TRANSPORTS, "tcp")
    if transport == "rtu":
        parity = table.choice("parity", ("N", "E", "O"), "N")
        return SerialLink(
            table.string("device"),
            baudrate=table.integer("baudrate", 9600, minimum=1200, maximum=921600),
            parity="E" if parity == "E" else "O" if parity == "O" else "N",
            stopbits=table.integer("stopbits", 1, minimum=1, maximum=2),
        )
    host = table.string("host")
    port = table.integer("port", 502, minimum=1, maximum=65535)
    return TcpLink(host, port) if transport == "tcp" else RtuOverTcpLink(host, port)


def _meter(table: Table) -> MeterSettings:
    reader = MeterConfig(
        link=_meter_link(table),
        meter_map=_meter_map(table),
        unit_id=table.integer("unit_id", 1, minimum=0, maximum=247),
        timeout_s=table.number("timeout_s", 1.0, minimum=0.05),
    )
    settings = MeterSettings(reader, table.number("stale_after_s", 5.0, minimum=0.1))
    table.finish()
    return settings


def _rotation(table: Table, wiring: str = "site phases wired to charger phases") -> Rotation:
    value = table.raw("phase_rotation", [1, 2, 3])
    if (
        not isinstance(value, list)
        or not all(type(phase) is int for phase in value)
        or sorted(value) != [1, 2, 3]
    ):
        raise ConfigError(
            f"{table.key('phase_rotation')}: expected the {wiring} "
            f"1, 2, 3, a permutation of [1, 2, 3] such as [2, 3, 1], got {value!r}"
        )
    return value[0], value[1], value[2]


def _panel(table: Table) -> PanelSettings:
    name = table.string("name")
    if not name:
        raise ConfigError(f"{table.key('name')}: must not be empty")
    parent = table.string("parent", SITE)
    chargers = table.raw("chargers", [])
    if not isinstance(chargers, list):
        raise ConfigError(f"{table.key('chargers')}: expected a list of charger identities")
    panel = PanelSettings(
        name=name,
        key=table.key("name").removesuffix(".name"),
        fuse_a=_phase_values(table, "fuse_a"),
        parent=None if parent == SITE else parent,
        phase_rotation=_rotation(table, "parent's phases wired to the panel's phases"),
        meter=_meter(table.table("meter")) if table.has("meter") else None,
        chargers=tuple(
            charger_identity(f"{table.key('chargers')}[{index}]", identity)
            for index, identity in enumerate(chargers)
        ),
    )
    table.finish()
    return panel


def charger_currents_problem(charger: ChargerSettings) -> tuple[str, str] | None:
    """(the key at fault, why) when a charger's minimum, safe and maximum currents do not go
    together; None when they do."""
    low, high = MIN_CURRENT_RANGE_A
    safe, least, most = charger.safe_current_a, charger.min_current_a, charger.max_current_a
    if not low <= least <= high:
        return "min_current_a", f"must be between {low} and {high}, got {least}"
    if safe < 0 or (safe != 0 and not least <= safe <= most):
        return (
            "safe_current_a",
            f"must be 0 or between min_current_a ({least}) and max_current_a ({most}), got {safe}",
        )
    if least > most:
        return "min_current_a", f"above max_current_a ({most})"
    return None


def _charger(
    table: Table, identity: str, defaults: ChargerSettings, listed: bool = True
) -> ChargerSettings:
    max_current = table.number("max_current_a", defaults.max_current_a, minimum=6, maximum=1000)
    low, high = MIN_CURRENT_RANGE_A
    min_current = table.number("min_current_a", defaults.min_current_a, minimum=low, maximum=high)
    safe = table.number("safe_current_a", defaults.safe_current_a, minimum=0)
    phases = table.integer("phases", defaults.phases, minimum=1, maximum=3)
    if phases == 2:
        raise ConfigError(f"{table.key('phases')}: must be 1 or 3")
    settings = ChargerSettings(
        identity=identity,
        max_current_a=max_current,
        safe_current_a=safe,
        min_current_a=min_current,
        phases=1 if phases == 1 else 3,
        phase_rotation=_rotation(table),
        priority=table.integer("priority", defaults.priority, minimum=-9, maximum=9),
        evses=table.integer("evses", defaults.evses, minimum=1, maximum=64),
        controllable=table.boolean("controllable", defaults.controllable),
    )
    problem = charger_currents_problem(settings)
    if problem is not None:
        key, why = problem
        raise ConfigError(f"{table.key(key)}: {why}")
    if listed:  # a key of [[chargers]] only: not of the unlisted chargers' defaults
        settings = _local_controller(table, settings)
    table.finish()
    return settings


def _local_controller(table: Table, settings: ChargerSettings) -> ChargerSettings:
    local_controller = table.boolean("local_controller", False)
    behind = table.raw("chargers_behind", [])
    if not isinstance(behind, list) or (behind and not local_controller):
        raise ConfigError(
            f"{table.key('chargers_behind')}: a list of charger identities, "
            "only with local_controller = true"
        )
    if local_controller and settings.evses != 1:
        raise ConfigError(f"{table.key('evses')}: a local controller is one EVSE (its EVSE 0)")
    identities = tuple(
        charger_identity(f"{table.key('chargers_behind')}[{index}]", identity)
        for index, identity in enumerate(behind)
    )
    return replace(settings, local_controller=local_controller, chargers_behind=identities)


def _loop(table: Table) -> LoopSettings:
    loop = LoopSettings(
        period_s=table.number("period_s", 1.0, minimum=0.05, maximum=60),
        reaction_time_s=table.number("reaction_time_s", 10.0, minimum=0),
        raise_fraction=table.number("raise_fraction", 0.25, minimum=0.01, maximum=1),
        deadband_a=table.number("deadband_a", 1.0, minimum=0),
        stack_level=table.integer("stack_level", 8, minimum=0, maximum=99),
        profile_id_base=table.integer("profile_id_base", 870000, minimum=1, maximum=2**31 - 1000),
        profile_duration_s=table.number("profile_duration_s", 300.0, minimum=2),
        refresh_s=table.number("refresh_s", 120.0, minimum=1),
        call_timeout_s=table.number("call_timeout_s", 10.0, minimum=0.1),
        setup_timeout_s=table.number("setup_timeout_s", 3.0, minimum=0.1, maximum=60),
        setup_retry_s=table.number("setup_retry_s", 30.0, minimum=0.1),
        obey_tolerance_a=table.number("obey_tolerance_a", 2.0, minimum=0),
        measurement_max_age_s=table.number("measurement_max_age_s", 30.0, minimum=0.1),
        rotation_period_s=table.number("rotation_period_s", 900.0, minimum=1),
    )
    if loop.refresh_s >= loop.profile_duration_s:
        raise ConfigError(
            f"{table.key('refresh_s')}: must be shorter than profile_duration_s "
            f"({loop.profile_duration_s}), or the dynamic limit lapses between refreshes"
        )
    return loop


def parse_balancer_config(root: Table) -> BalancerConfig | None:
    """The balancer's config, or None when the site has no [site] section (router only)."""
    if not root.has("site"):
        for section in ("meter", "balancer", "chargers", "panels"):
            if root.has(section):
                raise ConfigError(f"{section}: needs a [site] section with phase_cap_a")
        return None
    site = root.table("site")
    balancer = root.table("balancer", {})
    unlisted = _charger(
        balancer.table("unlisted_chargers", {}), "*", ChargerSettings("*", 16.0, 0.0), False
    )
    panels = order_tree(_panel(table) for table in root.tables("panels"))
    chargers = [
        _in_panel(_charger(table, table.identity("identity"), unlisted), panels)
        for table in root.tables("chargers")
    ]
    identities = [charger.identity for charger in chargers]
    duplicates = sorted({i for i in identities if identities.count(i) > 1})
    if duplicates:
        raise ConfigError(f"chargers: identity {duplicates[0]!r} is listed twice")
    behind = {i for charger in chargers for i in charger.chargers_behind}
    if behind & set(identities):
        listed = sorted(behind & set(identities))[0]
        raise ConfigError(f"chargers: {listed!r} is behind a local controller: not listed too")
    phase_cap = _phase_values(site, "phase_cap_a")
    config = BalancerConfig(
        phase_cap_a=phase_cap,
        margin_a=site.number("margin_a", 0.0, minimum=0),
        power_cap_kw=site.optional_number("power_cap_kw", minimum=0.1),
        nominal_voltage_v=site.number("nominal_voltage_v", 230.0, minimum=50, maximum=500),
        meter=_meter(root.table("meter")),
        loop=_loop(balancer),
        chargers=tuple(chargers),
        unlisted_charger=unlisted,
        panels=panels,
        warnings=tuple(fuse_warnings(panels, phase_cap)),
    )
    site.finish()
    balancer.finish()
    check_safe_currents(config)
    return config


def check_safe_currents(config: BalancerConfig) -> None:
    # The floor profile goes on EVSE 0, so every EVSE of a charger may draw the safe current.
    evses = [
        EvseState(
            evse_id=f"{charger.identity}/{evse}",
            max_current=charger.max_current_a,
            min_current=charger.min_current_a,
            safe_current=charger.safe_current_a,
            phase_map=charger.phase_rotation,
            phases_in_use=charger.phases,
            obeys=charger.controllable,
            panel=charger.panel,
        )
        for charger in config.chargers
        for evse in range(1, charger.evses + 1)
    ]
    problems = check_safe_currents_fit(
        config.phase_cap_a, config.margin_a, evses, panel_states(config.panels, {})
    )
    if problems:
        raise ConfigError(f"chargers.safe_current_a: {'; '.join(problems)}")
