"""The LC's device model at the CSMS: which variables it has and where their values live.

The rows are data; the few bindings read the LC's config and running state. The balancer's
writable settings change the running balancer as a SIGHUP reload does, and are kept across
restarts (`station.overrides`): the balancer runs on the config file's values with the CSMS's
on top, `effective_balancer` says which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from balancer.allocate import Mode
from balancer.config import BalancerConfig, check_safe_currents
from balancer.control import LoadBalancer
from ocpp_knowledge.composite import NOMINAL_VOLTAGE_V
from ocpp_knowledge.ocpp_time import to_ocpp_time
from router.config_reader import ConfigError
from station.device_model import Binding, DeviceModel, Variable, VariableSpec, constant
from station.device_model_calls import ITEMS_PER_REPORT
from station.link import StationLink
from station.network_profiles import parse_priority
from station.overrides import Overrides
from station.site_limit import SiteLimit, profiles_path

if TYPE_CHECKING:
    from lc.app import LocalController

BALANCER = "SiteLoadBalancer"
_PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class BalancerSetting:
    read: Callable[[BalancerConfig], float]
    change: Callable[[BalancerConfig, float], BalancerConfig]
    least: float  # the smallest value the CSMS may set


def _phase_cap(phase: int) -> BalancerSetting:
    def change(config: BalancerConfig, amps: float) -> BalancerConfig:
        caps = list(config.phase_cap_a)
        caps[phase] = amps
        return replace(config, phase_cap_a=(caps[0], caps[1], caps[2]))

    return BalancerSetting(lambda config: config.phase_cap_a[phase], change, 1.0)


# The balancer's settings the CSMS may change, by (variable, instance).
BALANCER_SETTINGS: dict[tuple[str, str | None], BalancerSetting] = {
    **{("PhaseCap", name): _phase_cap(phase) for phase, name in enumerate(_PHASES)},
    ("Margin", None): BalancerSetting(
        lambda config: config.margin_a, lambda config, amps: replace(config, margin_a=amps), 0.0
    ),
}


def _setting_key(variable: str, instance: str | None) -> str:
    return f"{BALANCER}.{variable}" + (f"[{instance}]" if instance else "")


def _text(amps: float) -> str:
    return f"{amps:g}"


def effective_balancer(file_config: BalancerConfig, overrides: Overrides | None) -> BalancerConfig:
    """The config file's balancer settings with the CSMS's changes that still apply on top."""
    if overrides is None:
        return file_config
    config = file_config
    for (variable, instance), setting in BALANCER_SETTINGS.items():
        file_value = _text(setting.read(file_config))
        value = overrides.effective(_setting_key(variable, instance), file_value)
        if value != file_value:
            config = setting.change(config, float(value))
    try:
        check_safe_currents(config)
    except ConfigError:
        return file_config  # the file changed beneath the CSMS's values: the file wins
    return config


def _balancer_variables(lc: LocalController, overrides: Overrides) -> list[Variable]:
    def binding(variable: str, instance: str | None) -> Binding:
        setting = BALANCER_SETTINGS[(variable, instance)]

        def current() -> str:
            assert lc.balancer is not None
            return _text(setting.read(lc.balancer.config))

        def write(text: str) -> str:
            assert lc.balancer is not None and lc.config.balancer is not None
            amps = float(text)
            if amps < setting.least:
                return "Rejected"
            config = setting.change(lc.balancer.config, amps)
            try:
                check_safe_currents(config)
            except ConfigError:
                return "Rejected"  # the chargers' safe currents would no longer fit
            lc.balancer.apply_config(config)
            file_value = _text(setting.read(lc.config.balancer))
            overrides.set(_setting_key(variable, instance), _text(amps), file_value)
            return "Accepted"

        return Binding(current, write)

    specs = [
        VariableSpec(
            BALANCER,
            variable,
            "ReadWrite",
            "decimal",
            "A",
            variable_instance=instance,
            persistent=True,
        )
        for variable, instance in BALANCER_SETTINGS
    ]
    variables = [Variable(spec, binding(spec.variable, spec.variable_instance)) for spec in specs]
    enabled = Variable(VariableSpec(BALANCER, "Enabled", data_type="boolean"), constant("true"))
    return [enabled, *variables]


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
            VariableSpec("OCPPCommCtrlr", "HeartbeatInterval", data_type="integer", unit="s"),
            Binding(lambda: _count(lc.station.session.heartbeat_interval_s if lc.station else 0)),
        ),
        (
            VariableSpec("OCPPCommCtrlr", "MessageTimeout", data_type="integer", unit="s"),
            Binding(lambda: _count(network.active.message_timeout_s)),
        ),
        *_network_variables(lc.station),
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
        (
            VariableSpec("SecurityCtrlr", "SecurityProfile", data_type="integer"),
            Binding(lambda: str(network.active.security_profile)),
        ),
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
        (VariableSpec("SmartChargingCtrlr", "Enabled", data_type="boolean"), constant("true")),
        (VariableSpec("SmartChargingCtrlr", "RateUnit", data_type="MemberList"), constant("A,W")),
        # No meter values of its own yet: it says so.
        (VariableSpec("SampledDataCtrlr", "Enabled", data_type="boolean"), constant("false")),
    ]
    if description.serial is not None:
        rows.append((VariableSpec("LocalController", "SerialNumber"), constant(description.serial)))
    variables = [Variable(spec, binding) for spec, binding in rows]
    if lc.balancer is not None and overrides is not None:
        variables += _balancer_variables(lc, overrides)
    return DeviceModel(variables)


def _network_variables(link: StationLink) -> list[tuple[VariableSpec, Binding]]:
    """B10: the CSMS orders the network profile slots, and how often each is tried."""
    network = link.network

    def set_priority(text: str) -> str:
        try:
            slots = parse_priority(text, network.stored)
        except ValueError:
            return "Rejected"  # B10.FR.02: a slot without a profile
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


def _balancer_in_trouble(lc: LocalController) -> bool:
    """The meter is lost (safe currents) or the site is overloaded even with sessions paused."""
    allocation = lc.balancer.last_allocation if lc.balancer is not None else None
    return allocation is not None and allocation.mode is not Mode.NORMAL


def _count(seconds: float) -> str:
    return str(round(seconds))


def site_limit(station: StationLink, balancer: LoadBalancer | None, state_path: Path) -> SiteLimit:
    """The CSMS's site limit on the LC's EVSE 0, answering its charging-profile calls and capping
    the balancer from its next period on."""
    voltage_v = NOMINAL_VOLTAGE_V if balancer is None else balancer.config.nominal_voltage_v

    def config_cap_a() -> float | None:
        return None if balancer is None else min(balancer.config.phase_cap_a)

    limit = SiteLimit(profiles_path(state_path), voltage_v, config_cap_a)
    limit.register(station)
    if balancer is not None:
        balancer.csms_limit_a = limit.limit_a
    return limit
