"""The LC's device model at the CSMS: which variables it has and where their values live.

The rows are data; the few bindings read the LC's config and running state. The balancer's
writable settings change the running balancer as a SIGHUP reload does, and are kept across
restarts (`station.overrides`): the balancer runs on the config file's values with the CSMS's
on top, `effective_balancer` says which.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from balancer.allocate import Mode
from balancer.config import (
    BalancerConfig,
    ChargerSettings,
    charger_currents_problem,
    check_safe_currents,
)
from balancer.control import LoadBalancer
from balancer.panels import PanelSettings
from config_file.table import ConfigError
from lc.station_security import (
    security_prerequisites,
    security_profile_variable,
    security_variables,
)
from ocpp_knowledge.composite import NOMINAL_VOLTAGE_V
from ocpp_knowledge.configuration import RATE_UNITS, SMART_CHARGING_CTRLR, SMART_CHARGING_ENABLED
from ocpp_knowledge.ocpp_time import to_ocpp_time
from router.frames import OcppVersion
from station.config import StationConfig
from station.configuration_keys import ConfigurationCalls
from station.device_model import Binding, DeviceModel, Variable, VariableSpec, constant
from station.device_model_calls import ITEMS_PER_REPORT, DeviceModelCalls
from station.link import StationLink
from station.meter_values import parse_measurands
from station.overrides import Overrides
from station.site_limit import SiteLimit, profiles_path
from station.site_limit_v16 import SiteLimitCalls16

if TYPE_CHECKING:
    from lc.app import LocalController
    from lc.external_limits import ExternalLimits
    from lc.own_meter_values import AlignedMeterValues

log = logging.getLogger(__name__)

BALANCER = "SiteLoadBalancer"
PANEL = "DistributionPanel"
UNLISTED = "*"  # the instance of a charger setting that applies to unlisted chargers
_PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class BalancerSetting:
    read: Callable[[BalancerConfig], float]
    # The config with the CSMS's value; ValueError for a value the setting cannot take.
    change: Callable[[BalancerConfig, float], BalancerConfig]


def _at_least(least: float, amps: float) -> float:
    if amps < least:
        raise ValueError(f"{amps:g} A is below {least:g} A")
    return amps


def _phase_cap(phase: int) -> BalancerSetting:
    def change(config: BalancerConfig, amps: float) -> BalancerConfig:
        caps = list(config.phase_cap_a)
        caps[phase] = _at_least(1.0, amps)
        return replace(config, phase_cap_a=(caps[0], caps[1], caps[2]))

    return BalancerSetting(lambda config: config.phase_cap_a[phase], change)


def _margin() -> BalancerSetting:
    def change(config: BalancerConfig, amps: float) -> BalancerConfig:
        return replace(config, margin_a=_at_least(0.0, amps))

    return BalancerSetting(lambda config: config.margin_a, change)


def _listed(config: BalancerConfig, identity: str) -> ChargerSettings:
    """The charger's settings; a charger a SIGHUP reload dropped from the file reads as an
    unlisted one, and the CSMS can no longer change it."""
    if identity == UNLISTED:
        return config.unlisted_charger
    return config.charger(identity)


def _charger_current(
    identity: str,
    read: Callable[[ChargerSettings], float],
    with_amps: Callable[[ChargerSettings, float], ChargerSettings],
) -> BalancerSetting:
    """A current of a listed charger's or, for UNLISTED, of the unlisted chargers'."""

    def change(config: BalancerConfig, amps: float) -> BalancerConfig:
        charger = with_amps(_listed(config, identity), amps)
        problem = charger_currents_problem(charger)
        if problem is not None:
            raise ValueError(problem[1])
        if identity == UNLISTED:
            return replace(config, unlisted_charger=charger)
        if all(c.identity != identity for c in config.chargers):
            raise ValueError(f"{identity} is no longer listed in the config file")
        chargers = tuple(charger if c.identity == identity else c for c in config.chargers)
        return replace(config, chargers=chargers)

    return BalancerSetting(lambda config: read(_listed(config, identity)), change)


def balancer_settings(config: BalancerConfig) -> dict[tuple[str, str | None], BalancerSetting]:
    """The balancer's settings the CSMS may change, by (variable, instance): the grid cap per
    phase, the margin, and each listed charger's (and the unlisted ones') safe and minimum
    current."""
    settings: dict[tuple[str, str | None], BalancerSetting] = {
        **{("PhaseCap", name): _phase_cap(phase) for phase, name in enumerate(_PHASES)},
        ("Margin", None): _margin(),
    }
    for identity in (*(charger.identity for charger in config.chargers), UNLISTED):
        settings[("SafeCurrent", identity)] = _charger_current(
            identity,
            lambda charger: charger.safe_current_a,
            lambda charger, amps: replace(charger, safe_current_a=amps),
        )
        settings[("MinCurrent", identity)] = _charger_current(
            identity,
            lambda charger: charger.min_current_a,
            lambda charger, amps: replace(charger, min_current_a=amps),
        )
    return settings


def _setting_key(variable: str, instance: str | None) -> str:
    return f"{BALANCER}.{variable}" + (f"[{instance}]" if instance else "")


def _text(amps: float) -> str:
    return f"{amps:g}"


def effective_balancer(file_config: BalancerConfig, overrides: Overrides | None) -> BalancerConfig:
    """The config file's balancer settings with the CSMS's changes that still apply on top."""
    if overrides is None:
        return file_config
    config = file_config
    for (variable, instance), setting in balancer_settings(file_config).items():
        file_value = _text(setting.read(file_config))
        value = overrides.effective(_setting_key(variable, instance), file_value)
        if value == file_value:
            continue
        try:
            config = setting.change(config, float(value))
        except ValueError:
            continue  # the file changed beneath the CSMS's value: the file's applies
    try:
        check_safe_currents(config)
    except ConfigError:
        return file_config  # the file changed beneath the CSMS's values: the file wins
    return config


def _balancer_variables(lc: LocalController, overrides: Overrides) -> list[Variable]:
    assert lc.balancer is not None
    settings = balancer_settings(lc.balancer.config)

    def binding(setting: BalancerSetting, key: str) -> Binding:
        def current() -> str:
            assert lc.balancer is not None
            return _text(setting.read(lc.balancer.config))

        def write(text: str) -> str:
            assert lc.balancer is not None and lc.config.balancer is not None
            amps = float(text)
            try:
                config = setting.change(lc.balancer.config, amps)
                check_safe_currents(config)
            except (ValueError, ConfigError):
                return "Rejected"  # out of range, or the chargers' safe currents would not fit
            lc.balancer.apply_config(config)
            overrides.set(key, _text(amps), _text(setting.read(lc.config.balancer)))
            return "Accepted"

        return Binding(current, write)

    variables = [
        Variable(
            VariableSpec(
                BALANCER,
                variable,
                "ReadWrite",
                "decimal",
                "A",
                variable_instance=instance,
                persistent=True,
            ),
            binding(setting, _setting_key(variable, instance)),
        )
        for (variable, instance), setting in settings.items()
    ]
    enabled = Variable(VariableSpec(BALANCER, "Enabled", data_type="boolean"), constant("true"))
    return [enabled, *variables]


def _panel_variables(lc: LocalController) -> list[Variable]:
    """The site's distribution panels from the config file (read-only): per panel its fuse per
    phase, the chargers it feeds and the panels below it; the LocalController lists the
    panels fed from the grid connection."""
    assert lc.balancer is not None

    def panels() -> tuple[PanelSettings, ...]:
        assert lc.balancer is not None
        return lc.balancer.config.panels  # as a SIGHUP reload left them

    def listed(names: Callable[[str | None], list[str]], name: str | None) -> Binding:
        return Binding(lambda: ",".join(names(name)))

    def fuse(name: str, phase: int) -> Binding:
        def read() -> str:
            panel = next((p for p in panels() if p.name == name), None)
            return "" if panel is None else _text(panel.fuse_a[phase])

        return Binding(read)

    def chargers_of(name: str | None) -> list[str]:
        return [i for p in panels() if p.name == name for i in p.chargers]

    def children_of(name: str | None) -> list[str]:
        return [p.name for p in panels() if p.parent == name]

    variables = [
        Variable(
            VariableSpec("LocalController", PANEL, data_type="MemberList"),
            listed(children_of, None),
        )
    ]
    for panel in lc.balancer.config.panels:
        name = panel.name
        variables += [
            Variable(
                VariableSpec(
                    PANEL,
                    "Fuse",
                    data_type="decimal",
                    unit="A",
                    variable_instance=str(phase + 1),
                    component_instance=name,
                ),
                fuse(name, phase),
            )
            for phase in range(3)
        ]
        variables += [
            Variable(
                VariableSpec(
                    PANEL, "ChargingStation", data_type="MemberList", component_instance=name
                ),
                listed(chargers_of, name),
            ),
            Variable(
                VariableSpec(PANEL, PANEL, data_type="MemberList", component_instance=name),
                listed(children_of, name),
            ),
        ]
    return variables


def device_model(lc: LocalController, overrides: Overrides | None) -> DeviceModel:
    station = lc.config.station
    assert station is not None
    description = station.description
    connected = Binding(
        lambda: ",".join(sorted(c.identity for c in lc.site_view.chargers.values() if c.connected))
    )
    assert lc.station is not None  # the device model exists with the LC's own link only
    network = lc.station.network
    rows: list[tuple[VariableSpec, Binding]] = [
        (VariableSpec("LocalController", "Identity"), constant(station.identity)),
        (VariableSpec("LocalController", "Manufacturer"), constant(description.vendor)),
        (VariableSpec("LocalController", "Model"), constant(description.model)),
        (VariableSpec("LocalController", "FirmwareVersion"), constant(description.firmware)),
        (VariableSpec("LocalController", "ChargingStation", data_type="MemberList"), connected),
        (VariableSpec("LocalController", "Enabled", data_type="boolean"), constant("true")),
        (
            VariableSpec("LocalController", "Problem", data_type="boolean"),
            Binding(lambda: "true" if _balancer_in_trouble(lc) else "false"),
        ),
        (
            VariableSpec(
                "OCPPCommCtrlr", "HeartbeatInterval", "ReadWrite", data_type="integer", unit="s"
            ),
            _heartbeat_interval(lc),
        ),
        (
            VariableSpec("OCPPCommCtrlr", "MessageTimeout", data_type="integer", unit="s"),
            Binding(lambda: _count(network.active.message_timeout_s)),
        ),
        *_network_variables(lc),
        (
            VariableSpec("OCPPCommCtrlr", "RetryBackOffWaitMinimum", data_type="integer", unit="s"),
            constant(_count(station.backoff.wait_minimum_s)),
        ),
        (
            VariableSpec("OCPPCommCtrlr", "RetryBackOffRandomRange", data_type="integer", unit="s"),
            constant(_count(station.backoff.random_range_s)),
        ),
        (
            VariableSpec("OCPPCommCtrlr", "RetryBackOffRepeatTimes", data_type="integer"),
            constant(str(station.backoff.repeat_times)),
        ),
        (VariableSpec("SecurityCtrlr", "Identity"), constant(station.identity)),
        *security_variables(lc),
        security_profile_variable(lc),
        (
            VariableSpec("ClockCtrlr", "DateTime", data_type="dateTime"),
            Binding(lambda: to_ocpp_time(datetime.now(UTC))),
        ),
        (VariableSpec("ClockCtrlr", "TimeSource", data_type="SequenceList"), constant("Heartbeat")),
        (
            VariableSpec(
                "ClockCtrlr", "TimeAdjustmentReportingThreshold", data_type="integer", unit="s"
            ),
            constant(_count(station.timers.clock_report_threshold_s)),
        ),
        (
            VariableSpec(
                "DeviceDataCtrlr",
                "ItemsPerMessage",
                data_type="integer",
                variable_instance="GetReport",
            ),
            constant(str(ITEMS_PER_REPORT)),
        ),
        # The site limit from the CSMS, on EVSE 0 (station.site_limit), in A or W.
        (
            VariableSpec(
                SMART_CHARGING_CTRLR, SMART_CHARGING_ENABLED.variable, data_type="boolean"
            ),
            constant("true"),
        ),
        (
            VariableSpec(SMART_CHARGING_CTRLR, RATE_UNITS.variable, data_type="MemberList"),
            constant("A,W"),
        ),
        # The site meter's readings as its own MeterValues, when it has a meter.
        (
            VariableSpec("SampledDataCtrlr", "Enabled", data_type="boolean"),
            constant("true" if lc.own_meter_values is not None else "false"),
        ),
    ]
    if description.serial is not None:
        rows.append((VariableSpec("LocalController", "SerialNumber"), constant(description.serial)))
    variables = [Variable(spec, binding) for spec, binding in rows]
    if lc.balancer is not None:
        variables += _panel_variables(lc)
    if lc.balancer is not None and overrides is not None:
        variables += _balancer_variables(lc, overrides)
    if lc.own_meter_values is not None and overrides is not None:
        variables += _sampled_data_variables(lc.own_meter_values, station, overrides)
    if lc.external_limits is not None and overrides is not None:
        variables += _limit_notice_variables(lc.external_limits, overrides)
    return DeviceModel(variables)


def answer_device_model(station: StationLink, model: DeviceModel) -> None:
    """The CSMS reads and changes the device model: 2.0.1 Get/SetVariables and reports, 1.6
    Get/ChangeConfiguration with 1.6 key names."""
    if station.session.dialect.version is OcppVersion.V16:
        ConfigurationCalls(model).register(station)
    else:
        DeviceModelCalls(model, station).register()


def _network_variables(lc: LocalController) -> list[tuple[VariableSpec, Binding]]:
    """B10: the CSMS orders the network profile slots, and how often each is tried."""
    link = lc.station
    assert link is not None
    network = link.network

    def set_priority(text: str) -> str:
        try:
            slots = network.priority_from(text, security_prerequisites(lc))
        except ValueError as exc:
            log.warning("NetworkConfigurationPriority %r rejected: %s", text, exc)
            return "Rejected"
        network.set_priority(slots)
        # Like a reboot (B10.FR.04), once the CSMS has this answer: the first slot is dialled.
        link.after_answer(link.move)
        return "Accepted"

    def set_attempts(text: str) -> str:
        if int(text) < 1:
            return "Rejected"
        network.set_attempts(int(text))
        return "Accepted"

    def comm(variable: str, mutability: str, data_type: str) -> VariableSpec:
        return VariableSpec("OCPPCommCtrlr", variable, mutability, data_type, persistent=True)

    return [
        (
            comm("NetworkConfigurationPriority", "ReadWrite", "string"),
            Binding(lambda: ",".join(map(str, network.priority)), set_priority),
        ),
        (
            comm("NetworkProfileConnectionAttempts", "ReadWrite", "integer"),
            Binding(lambda: str(network.attempts), set_attempts),
        ),
        (
            comm("ActiveNetworkProfile", "ReadOnly", "integer"),
            Binding(lambda: str(link.slot_in_use or network.last_connected or "")),
        ),
    ]


SIGNIFICANCE_KEY = f"{SMART_CHARGING_CTRLR}.LimitChangeSignificance"


def effective_significance(limits: ExternalLimits, overrides: Overrides) -> float:
    """LimitChangeSignificance: the config file's, the CSMS's on top."""
    file_value = _text(limits.settings.significance_pct)
    try:
        return max(float(overrides.effective(SIGNIFICANCE_KEY, file_value)), 0.0)
    except ValueError:
        return limits.settings.significance_pct


def _limit_notice_variables(limits: ExternalLimits, overrides: Overrides) -> list[Variable]:
    """How an EMS's limit is reported: NotifyChargingLimit past a change of this many percent,
    always with the limit as a schedule."""
    limits.significance_pct = effective_significance(limits, overrides)

    def write(text: str) -> str:
        percent = float(text)
        if percent < 0:
            return "Rejected"
        limits.significance_pct = percent
        overrides.set(SIGNIFICANCE_KEY, _text(percent), _text(limits.settings.significance_pct))
        return "Accepted"

    significance = VariableSpec(
        SMART_CHARGING_CTRLR,
        "LimitChangeSignificance",
        "ReadWrite",
        "decimal",
        "Percent",
        persistent=True,
    )
    schedules = VariableSpec(
        SMART_CHARGING_CTRLR, "NotifyChargingLimitWithSchedules", data_type="boolean"
    )
    return [
        Variable(significance, Binding(lambda: _text(limits.significance_pct), write)),
        Variable(schedules, constant("true")),
    ]


SAMPLED_DATA = "SampledDataCtrlr"
INTERVAL_KEY = f"{SAMPLED_DATA}.AlignedDataInterval"
MEASURANDS_KEY = f"{SAMPLED_DATA}.AlignedDataMeasurands"


def aligned_settings(station: StationConfig, overrides: Overrides) -> tuple[int, tuple[str, ...]]:
    """The aligned sampling interval and measurands: the config file's, the CSMS's on top."""
    interval = overrides.effective(INTERVAL_KEY, str(station.aligned_interval_s))
    measurands = overrides.effective(MEASURANDS_KEY, ",".join(station.aligned_measurands))
    try:
        return max(int(interval), 0), parse_measurands(measurands)
    except ValueError:
        return station.aligned_interval_s, station.aligned_measurands


def _sampled_data_variables(
    sampler: AlignedMeterValues, station: StationConfig, overrides: Overrides
) -> list[Variable]:
    def write_interval(text: str) -> str:
        interval = int(text)
        if interval < 0:
            return "Rejected"
        sampler.change(interval_s=interval)
        overrides.set(INTERVAL_KEY, str(interval), str(station.aligned_interval_s))
        return "Accepted"

    def write_measurands(text: str) -> str:
        try:
            measurands = parse_measurands(text)
        except ValueError:
            return "Rejected"
        sampler.change(measurands=measurands)
        overrides.set(MEASURANDS_KEY, ",".join(measurands), ",".join(station.aligned_measurands))
        return "Accepted"

    def spec(variable: str, data_type: str, unit: str | None = None) -> VariableSpec:
        return VariableSpec(SAMPLED_DATA, variable, "ReadWrite", data_type, unit, persistent=True)

    return [
        Variable(
            spec("AlignedDataInterval", "integer", "s"),
            Binding(lambda: str(sampler.interval_s), write_interval),
        ),
        Variable(
            spec("AlignedDataMeasurands", "MemberList"),
            Binding(lambda: ",".join(sampler.measurands), write_measurands),
        ),
    ]


def _balancer_in_trouble(lc: LocalController) -> bool:
    """The meter is lost (safe currents) or the site is overloaded even with sessions paused."""
    allocation = lc.balancer.last_allocation if lc.balancer is not None else None
    return allocation is not None and allocation.mode is not Mode.NORMAL


def _heartbeat_interval(lc: LocalController) -> Binding:
    """Until the next Accepted boot, whose interval then applies (B01.FR.04)."""

    def read() -> str:
        return _count(lc.station.session.heartbeat_interval_s if lc.station else 0)

    def write(text: str) -> str:
        seconds = int(text)
        if seconds < 1 or lc.station is None:
            return "Rejected"
        lc.station.session.heartbeat_interval_s = seconds
        return "Accepted"

    return Binding(read, write)


def _count(seconds: float) -> str:
    return str(round(seconds))


def site_limit(station: StationLink, balancer: LoadBalancer | None, state_path: Path) -> SiteLimit:
    """The CSMS's site limit on the LC's EVSE 0 (1.6: connector 0), answering its
    charging-profile calls and capping the balancer from its next period on."""
    voltage_v = NOMINAL_VOLTAGE_V if balancer is None else balancer.config.nominal_voltage_v

    def config_cap_a() -> float | None:
        return None if balancer is None else min(balancer.config.phase_cap_a)

    version = station.session.dialect.version
    limit = SiteLimit(profiles_path(state_path), voltage_v, config_cap_a, version)
    if version is OcppVersion.V16:
        SiteLimitCalls16(limit).register(station)
    else:
        limit.register(station)
    if balancer is not None:
        balancer.csms_limit_a = limit.limit_a
    return limit
