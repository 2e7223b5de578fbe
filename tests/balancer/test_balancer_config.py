"""The site config's balancer sections: [site], [meter], [balancer] and [[chargers]]."""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from balancer.config import ChargerSettings, LoopSettings
from config_file.table import ConfigError
from lc.config import load_config, parse_config
from modbus.codec import DataType
from modbus.link import RtuOverTcpLink, SerialLink, TcpLink
from modbus.meter_map import MeterMap, Quantity
from tests.lc_process import EXAMPLE, example_config

ROUTER_ONLY: dict[str, Any] = {
    "router": {"upstream_url": "ws://csms.example.net:9000", "listen_port": 9000},
    "metrics": {"listen_port": 9100},
}

FULL: dict[str, Any] = {
    **ROUTER_ONLY,
    "site": {
        "phase_cap_a": [40, 35.5, 40],
        "margin_a": 2,
        "power_cap_kw": 30,
        "nominal_voltage_v": 231,
    },
    "meter": {
        "transport": "tcp",
        "host": "192.168.1.50",
        "port": 1502,
        "unit_id": 3,
        "map": "eastron_sdm630",
        "timeout_s": 0.5,
        "stale_after_s": 4,
    },
    "balancer": {
        "period_s": 2,
        "reaction_time_s": 15,
        "raise_fraction": 0.5,
        "deadband_a": 0.5,
        "stack_level": 5,
        "profile_id_base": 5000,
        "profile_duration_s": 600,
        "refresh_s": 200,
        "call_timeout_s": 5,
        "setup_timeout_s": 2,
        "setup_retry_s": 20,
        "obey_tolerance_a": 3,
        "measurement_max_age_s": 20,
        "rotation_period_s": 600,
        "unlisted_chargers": {"max_current_a": 20, "safe_current_a": 0, "evses": 2},
    },
    "chargers": [
        {
            "identity": "CP01",
            "max_current_a": 32,
            "safe_current_a": 8,
            "min_current_a": 7,
            "phases": 3,
            "phase_rotation": [1, 2, 3],
            "priority": 2,
            "evses": 2,
        },
        {"identity": "CP02", "safe_current_a": 6, "phases": 1, "phase_rotation": [2, 3, 1]},
    ],
}

CUSTOM_MAP: dict[str, Any] = {
    "function_code": 4,
    "word_order": "little",
    "current_l1": {"address": 6, "type": "int32", "scale": 0.001},
    "current_l2": {"address": 8, "type": "int32", "scale": 0.001},
    "current_l3": {"address": 10, "type": "int32", "scale": 0.001, "no_reading": [0x7FFFFFFF]},
}


def full(**sections: Any) -> dict[str, Any]:
    """The full config with whole sections replaced (None removes one)."""
    data = copy.deepcopy(FULL)
    for name, section in sections.items():
        if section is None:
            data.pop(name, None)
        else:
            data[name] = section
    return data


def edited(section: str, **keys: Any) -> dict[str, Any]:
    """The full config with keys of one section changed (None removes a key)."""
    data = copy.deepcopy(FULL)
    for key, value in keys.items():
        if value is None:
            data[section].pop(key, None)
        else:
            data[section][key] = value
    return data


def with_charger(index: int, **keys: Any) -> dict[str, Any]:
    data = copy.deepcopy(FULL)
    for key, value in keys.items():
        if value is None:
            data["chargers"][index].pop(key, None)
        else:
            data["chargers"][index][key] = value
    return data


def rejects(data: dict[str, Any], key: str) -> str:
    """The ConfigError message, which must start with the offending key."""
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    message = str(caught.value)
    assert message.startswith(f"{key}:") or f"; {key}:" in message, message
    return message


# -- valid configs ----------------------------------------------------------------------------


def test_full_config_is_read_into_the_balancer_settings() -> None:
    balancer = parse_config(full()).balancer
    assert balancer is not None
    assert balancer.phase_cap_a == (40.0, 35.5, 40.0)
    assert balancer.margin_a == 2.0
    assert balancer.power_cap_kw == 30.0
    assert balancer.nominal_voltage_v == 231.0
    reader = balancer.meter.reader
    assert reader.link == TcpLink("192.168.1.50", 1502)
    assert reader.unit_id == 3 and reader.timeout_s == 0.5
    assert isinstance(reader.meter_map, MeterMap)
    assert reader.meter_map.name == "eastron_sdm630"
    assert balancer.meter.stale_after_s == 4.0
    assert balancer.loop == LoopSettings(
        period_s=2.0,
        reaction_time_s=15.0,
        raise_fraction=0.5,
        deadband_a=0.5,
        stack_level=5,
        profile_id_base=5000,
        profile_duration_s=600.0,
        refresh_s=200.0,
        call_timeout_s=5.0,
        setup_timeout_s=2.0,
        setup_retry_s=20.0,
        obey_tolerance_a=3.0,
        measurement_max_age_s=20.0,
        rotation_period_s=600.0,
    )
    unlisted = ChargerSettings("*", max_current_a=20.0, safe_current_a=0.0, evses=2)
    assert balancer.unlisted_charger == unlisted
    assert balancer.chargers == (
        ChargerSettings("CP01", 32.0, 8.0, 7.0, 3, (1, 2, 3), 2, 2),
        # what a listed charger leaves out comes from [balancer.unlisted_chargers]
        ChargerSettings("CP02", 20.0, 6.0, 6.0, 1, (2, 3, 1), 0, 2),
    )


def test_a_charger_that_is_not_listed_gets_the_unlisted_defaults() -> None:
    balancer = parse_config(full()).balancer
    assert balancer is not None
    assert balancer.charger("CP01").max_current_a == 32.0
    guest = balancer.charger("GUEST")
    assert guest.identity == "GUEST"
    assert (guest.max_current_a, guest.safe_current_a, guest.evses) == (20.0, 0.0, 2)


def test_minimal_balancer_config_takes_the_defaults() -> None:
    data = {
        **ROUTER_ONLY,
        "site": {"phase_cap_a": 63},
        "meter": {"host": "meter.local", "map": "abb_b23"},
    }
    balancer = parse_config(data).balancer
    assert balancer is not None
    assert balancer.phase_cap_a == (63.0, 63.0, 63.0)
    assert balancer.margin_a == 0.0 and balancer.power_cap_kw is None
    assert balancer.meter.reader.link == TcpLink("meter.local", 502)
    assert balancer.loop == LoopSettings()
    assert balancer.chargers == ()
    assert balancer.unlisted_charger == ChargerSettings("*", 16.0, 0.0)


def test_router_only_config_has_no_balancer() -> None:
    config = parse_config(copy.deepcopy(ROUTER_ONLY))
    assert config.balancer is None
    assert config.router.upstream_url == "ws://csms.example.net:9000"


def test_rtu_meter_link() -> None:
    meter = {
        "transport": "rtu",
        "device": "/dev/ttyUSB0",
        "baudrate": 19200,
        "parity": "E",
        "stopbits": 2,
        "map": "eastron_sdm630",
    }
    balancer = parse_config(full(meter=meter)).balancer
    assert balancer is not None
    assert balancer.meter.reader.link == SerialLink(
        "/dev/ttyUSB0", baudrate=19200, parity="E", stopbits=2
    )


def test_rtu_over_tcp_meter_link() -> None:
    balancer = parse_config(edited("meter", transport="rtu-over-tcp")).balancer
    assert balancer is not None
    assert balancer.meter.reader.link == RtuOverTcpLink("192.168.1.50", 1502)


def test_custom_meter_map() -> None:
    data = edited("meter", map=None, custom_map=copy.deepcopy(CUSTOM_MAP))
    balancer = parse_config(data).balancer
    assert balancer is not None
    meter_map = balancer.meter.reader.meter_map
    assert isinstance(meter_map, MeterMap)
    assert meter_map.function_code == 4
    assert set(meter_map.points) == {Quantity.CURRENT_L1, Quantity.CURRENT_L2, Quantity.CURRENT_L3}
    point = meter_map.points[Quantity.CURRENT_L3]
    assert (point.address, point.data_type, point.scale) == (10, DataType.INT32, 0.001)


def test_example_file_loads(tmp_path: Path) -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    config = load_config(example_config(tmp_path))
    assert (config.balancer is not None) == ("site" in data)
    if config.balancer is not None:
        identities = [charger.identity for charger in config.balancer.chargers]
        assert identities == [charger["identity"] for charger in data.get("chargers", [])]


# -- [site] -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cap",
    [[32, 32], [32, 32, 32, 32], [], -5, 0, [32, -1, 32], [32, 0, 32], "63", True, [32, True, 32]],
    ids=repr,
)
def test_phase_cap_must_be_a_positive_number_or_three_of_them(cap: Any) -> None:
    message = rejects(edited("site", phase_cap_a=cap), "site.phase_cap_a")
    assert "three" in message


def test_phase_cap_is_required() -> None:
    rejects(edited("site", phase_cap_a=None), "site.phase_cap_a")


def test_a_misspelt_phase_cap_is_named_beside_the_missing_one() -> None:
    message = rejects(edited("site", phase_cap_a=None, phase_cap_A=63), "site.phase_cap_a")
    assert message.endswith("missing (is site.phase_cap_A a misspelling of it?)")


@pytest.mark.parametrize("cap", [math.nan, math.inf, [63, math.nan, 63]], ids=repr)
def test_phase_cap_must_be_finite(cap: Any) -> None:
    rejects(edited("site", phase_cap_a=cap), "site.phase_cap_a")


def test_meter_needs_a_site() -> None:
    rejects(full(site=None), "meter")


@pytest.mark.parametrize("section", ["balancer", "chargers"])
def test_balancer_sections_need_a_site(section: str) -> None:
    data = full(site=None, meter=None)
    data = {name: value for name, value in data.items() if name in ("router", "metrics", section)}
    rejects(data, section)


def test_site_needs_a_meter() -> None:
    rejects(full(meter=None), "meter")


# -- [meter] ------------------------------------------------------------------------------------


def test_unknown_meter_map_name() -> None:
    message = rejects(edited("meter", map="eastron_sdm999"), "meter.map")
    assert "eastron_sdm630" in message  # lists the known ones


def test_meter_map_is_required() -> None:
    rejects(edited("meter", map=None), "meter.map")


def test_meter_map_and_custom_map_together_are_refused() -> None:
    rejects(edited("meter", custom_map=copy.deepcopy(CUSTOM_MAP)), "meter.map")


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"current_l3": None}, "meter.custom_map.current_l3"),
        ({"function_code": 5}, "meter.custom_map.function_code"),
        ({"function_code": None}, "meter.custom_map.function_code"),
        ({"bogus": 1}, "meter.custom_map.bogus"),
        ({"word_order": "middle"}, "meter.custom_map.word_order"),
        ({"max_registers_per_read": 1}, "meter.custom_map.max_registers_per_read"),
        ({"current_l1": {"address": 6, "type": "int33"}}, "meter.custom_map.current_l1.type"),
        ({"current_l1": {"type": "int32"}}, "meter.custom_map.current_l1.address"),
        (
            {"current_l1": {"address": 6, "type": "int32", "offset": 2}},
            "meter.custom_map.current_l1.offset",
        ),
        (
            {"current_l1": {"address": 6, "type": "int16", "scale": 0}},
            "meter.custom_map.current_l1.scale",
        ),
        (
            {"current_l1": {"address": 6, "type": "int16", "no_reading": [70000]}},
            "meter.custom_map.current_l1.no_reading",
        ),
        ({"current_l1": 6}, "meter.custom_map.current_l1"),
    ],
)
def test_custom_map_problems_name_the_key(change: dict[str, Any], key: str) -> None:
    custom = copy.deepcopy(CUSTOM_MAP)
    for name, value in change.items():
        if value is None:
            custom.pop(name)
        else:
            custom[name] = value
    rejects(edited("meter", map=None, custom_map=custom), key)


def test_every_custom_map_problem_is_reported_at_once() -> None:
    custom = {"function_code": 4, "current_l1": CUSTOM_MAP["current_l1"]}
    message = rejects(edited("meter", map=None, custom_map=custom), "meter.custom_map.current_l2")
    assert "meter.custom_map.current_l3" in message


def test_custom_map_that_is_not_a_table_names_the_key() -> None:
    rejects(edited("meter", map=None, custom_map=5), "meter.custom_map")


def test_rtu_transport_needs_a_device() -> None:
    meter = {"transport": "rtu", "map": "eastron_sdm630"}
    rejects(full(meter=meter), "meter.device")


def test_tcp_transport_needs_a_host() -> None:
    rejects(edited("meter", host=None), "meter.host")


@pytest.mark.parametrize(
    ("key", "value"),
    [("transport", "udp"), ("port", 0), ("unit_id", 248), ("timeout_s", 0), ("stale_after_s", 0)],
)
def test_meter_values_out_of_range(key: str, value: Any) -> None:
    rejects(edited("meter", **{key: value}), f"meter.{key}")


@pytest.mark.parametrize(("key", "value"), [("parity", "X"), ("baudrate", 300), ("stopbits", 3)])
def test_serial_settings_out_of_range(key: str, value: Any) -> None:
    meter = {"transport": "rtu", "device": "/dev/ttyUSB0", "map": "eastron_sdm630", key: value}
    rejects(full(meter=meter), f"meter.{key}")


# -- [[chargers]] -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rotation", [[1, 2, 2], [1, 2], [0, 1, 2], [1, 2, 3, 1], "123", 123], ids=repr
)
def test_phase_rotation_must_be_a_permutation(rotation: Any) -> None:
    message = rejects(with_charger(1, phase_rotation=rotation), "chargers[1].phase_rotation")
    assert "permutation" in message


def test_phase_rotation_written_as_floats_is_refused_or_read_as_integers() -> None:
    try:
        balancer = parse_config(with_charger(1, phase_rotation=[2.0, 3.0, 1.0])).balancer
    except ConfigError as exc:
        assert str(exc).startswith("chargers[1].phase_rotation:")
        return
    assert balancer is not None
    assert [type(phase) for phase in balancer.chargers[1].phase_rotation] == [int, int, int]


def test_two_phases_are_refused() -> None:
    message = rejects(with_charger(0, phases=2), "chargers[0].phases")
    assert "1 or 3" in message


@pytest.mark.parametrize("phases", [0, 4])
def test_phase_count_out_of_range(phases: int) -> None:
    rejects(with_charger(0, phases=phases), "chargers[0].phases")


@pytest.mark.parametrize("safe", [0.5, 3, 6.9])
def test_safe_current_between_zero_and_the_minimum_is_refused(safe: float) -> None:
    message = rejects(with_charger(0, safe_current_a=safe), "chargers[0].safe_current_a")
    assert "min_current_a" in message


def test_safe_current_above_the_maximum_is_refused() -> None:
    rejects(with_charger(0, safe_current_a=33), "chargers[0].safe_current_a")


def test_negative_safe_current_is_refused() -> None:
    rejects(with_charger(0, safe_current_a=-1), "chargers[0].safe_current_a")


def test_minimum_above_maximum_is_refused() -> None:
    data = with_charger(0, max_current_a=8, min_current_a=10, safe_current_a=0)
    rejects(data, "chargers[0].min_current_a")


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_current_a", 5), ("min_current_a", 0.5), ("priority", 10), ("evses", 0), ("evses", 65)],
)
def test_charger_values_out_of_range(key: str, value: Any) -> None:
    rejects(with_charger(0, **{key: value}), f"chargers[0].{key}")


def test_charger_identity_is_required() -> None:
    rejects(with_charger(1, identity=None), "chargers[1].identity")


def test_a_charger_identity_a_url_path_cannot_carry_is_refused() -> None:
    message = rejects(with_charger(1, identity="Row B/CP 7"), "chargers[1].identity")
    assert "cannot carry (' /')" in message


def test_duplicate_identities_are_refused() -> None:
    message = rejects(with_charger(1, identity="CP01"), "chargers")
    assert "'CP01'" in message and "twice" in message


def test_safe_currents_over_the_cap_minus_margin_are_refused_naming_the_phase() -> None:
    # L2 cap 16 A - margin 1 A = 15 A; three 1-phase chargers wired L2 at 6 A = 18 A
    single = {"max_current_a": 16, "safe_current_a": 6, "phases": 1, "evses": 1}
    data = full(
        site={"phase_cap_a": [32, 16, 32], "margin_a": 1},
        chargers=[{"identity": f"CP{n}", "phase_rotation": [2, 3, 1], **single} for n in range(3)],
    )
    message = rejects(data, "chargers.safe_current_a")
    assert "L2" in message
    assert "L1" not in message and "L3" not in message


def test_safe_currents_count_every_evse_of_a_charger() -> None:
    # 2 EVSEs x 10 A = 20 A > 20 A - 1 A; the same charger with 1 EVSE fits
    charger = {"identity": "CP01", "max_current_a": 32, "safe_current_a": 10, "evses": 2}
    site = {"phase_cap_a": 20, "margin_a": 1}
    message = rejects(full(site=site, chargers=[charger]), "chargers.safe_current_a")
    assert all(phase in message for phase in ("L1", "L2", "L3"))
    assert parse_config(full(site=site, chargers=[{**charger, "evses": 1}])).balancer is not None


def test_a_charger_that_is_not_controllable_counts_at_its_maximum() -> None:
    # 20 A + 6 A fit under 32 A - 1 A; as the charger that ignores profiles draws 32 A, not.
    deaf = {"identity": "CP01", "max_current_a": 20, "safe_current_a": 6, "evses": 1}
    other = {"identity": "CP02", "max_current_a": 32, "safe_current_a": 6, "evses": 1}
    site = {"phase_cap_a": 32, "margin_a": 1}
    assert parse_config(full(site=site, chargers=[deaf, other])).balancer is not None
    deaf["max_current_a"] = 32
    message = rejects(
        full(site=site, chargers=[deaf | {"controllable": False}, other]),
        "chargers.safe_current_a",
    )
    assert "1 uncontrollable EVSEs at their maximum" in message


def test_controllable_must_be_true_or_false() -> None:
    rejects(with_charger(0, controllable="no"), "chargers[0].controllable")


def test_safe_currents_exactly_at_cap_minus_margin_fit() -> None:
    charger = {"identity": "CP01", "max_current_a": 32, "safe_current_a": 10, "evses": 1}
    chargers = [charger, charger | {"identity": "CP02"}]
    data = full(site={"phase_cap_a": 21, "margin_a": 1}, chargers=chargers)
    assert parse_config(data).balancer is not None


# -- [balancer] ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("refresh", "duration"), [(300, 300), (400, 300)])
def test_refresh_must_be_shorter_than_the_profile_duration(refresh: int, duration: int) -> None:
    data = edited("balancer", refresh_s=refresh, profile_duration_s=duration)
    message = rejects(data, "balancer.refresh_s")
    assert "profile_duration_s" in message


def test_refresh_just_below_the_profile_duration_is_accepted() -> None:
    balancer = parse_config(edited("balancer", refresh_s=299, profile_duration_s=300)).balancer
    assert balancer is not None and balancer.loop.refresh_s == 299.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("period_s", 0.01),
        ("raise_fraction", 0),
        ("raise_fraction", 1.5),
        ("deadband_a", -1),
        ("stack_level", 100),
        ("profile_id_base", 0),
        ("profile_duration_s", 1),
        ("measurement_max_age_s", 0),
        ("reaction_time_s", "10"),
        ("setup_timeout_s", 0),
        ("setup_timeout_s", 120),
        ("setup_retry_s", 0),
    ],
)
def test_balancer_values_out_of_range(key: str, value: Any) -> None:
    rejects(edited("balancer", **{key: value}), f"balancer.{key}")


def test_unlisted_charger_settings_are_checked_too() -> None:
    data = edited("balancer", unlisted_chargers={"safe_current_a": 3})
    rejects(data, "balancer.unlisted_chargers.safe_current_a")


# -- unknown keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (("router",), "router.upstream"),
        (("metrics",), "metrics.port"),
        (("site",), "site.phase_cap"),
        (("meter",), "meter.adress"),
        (("balancer",), "balancer.period"),
        (("balancer", "unlisted_chargers"), "balancer.unlisted_chargers.identity"),
        (("chargers", 0), "chargers[0].max_current"),
        ((), "sites"),
    ],
)
def test_unknown_key_in_every_section_is_named(path: tuple[Any, ...], key: str) -> None:
    data = full()
    section: Any = data
    for step in path:
        section = section[step]
    section[key.rsplit(".", 1)[-1]] = 1
    message = rejects(data, key)
    assert "unknown key" in message
