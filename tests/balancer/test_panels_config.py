"""The site config's [[panels]]: the fuse tree under the grid connection."""

from __future__ import annotations

from typing import Any

from balancer.config import BalancerConfig
from balancer.evse_plan import evse_states
from balancer.model import SiteModel
from balancer.site import EvseState, SessionState
from lc.config import parse_config
from modbus.link import TcpLink
from router import events as ev
from router.frames import OcppVersion
from tests.balancer.test_balancer_config import FULL, full, rejects

SUB_METER: dict[str, Any] = {
    "host": "192.168.1.51",
    "map": "eastron_sdm630",
    "stale_after_s": 3,
}


def with_panels(*panels: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return full(panels=list(panels), **sections)


def balancer_of(data: dict[str, Any]) -> BalancerConfig:
    config = parse_config(data).balancer
    assert config is not None
    return config


def test_panels_form_a_tree_parents_first_with_rotations_composed_to_site_phases() -> None:
    config = balancer_of(
        with_panels(
            {"name": "row-a", "parent": "floor-1", "fuse_a": 20, "phase_rotation": [2, 3, 1]},
            {
                "name": "floor-1",
                "fuse_a": [35, 30, 25],
                "phase_rotation": [3, 1, 2],
                "chargers": ["CP02"],
                "meter": SUB_METER,
            },
        )
    )
    floor, row = config.panels
    assert (floor.name, floor.parent, floor.fuse_a) == ("floor-1", None, (35.0, 30.0, 25.0))
    assert floor.site_phases == (3, 1, 2)
    # row phase 1 <- floor phase 2 <- site L1
    assert (row.parent, row.site_phases) == ("floor-1", (1, 2, 3))
    assert floor.meter is not None and floor.meter.stale_after_s == 3
    assert floor.meter.reader.link == TcpLink("192.168.1.51", 502)
    assert row.meter is None
    # CP02's phase_rotation [2, 3, 1] is relative to its panel: panel phase 2 is site L1.
    cp02 = config.charger("CP02")
    assert (cp02.panel, cp02.phase_rotation) == ("floor-1", (1, 2, 3))
    assert config.charger("CP01").panel is None
    assert config.warnings == ()


def test_a_charger_only_a_panel_names_gets_the_unlisted_settings_in_that_panel() -> None:
    config = balancer_of(
        with_panels(
            {"name": "row-a", "fuse_a": 32, "chargers": ["GUEST"], "phase_rotation": [2, 3, 1]}
        )
    )
    guest = config.charger("GUEST")
    assert (guest.panel, guest.phase_rotation, guest.max_current_a) == ("row-a", (2, 3, 1), 20.0)


def test_an_unknown_parent_is_refused() -> None:
    message = rejects(
        with_panels({"name": "row-a", "parent": "floor-9", "fuse_a": 32}), "panels[0].parent"
    )
    assert "'floor-9'" in message


def test_panels_feeding_each_other_are_refused_naming_the_loop() -> None:
    message = rejects(
        with_panels(
            {"name": "a", "parent": "c", "fuse_a": 32},
            {"name": "b", "parent": "a", "fuse_a": 32},
            {"name": "c", "parent": "b", "fuse_a": 32},
        ),
        "panels[0].parent",
    )
    assert "a -> c -> b -> a" in message


def test_a_panel_that_feeds_itself_is_refused() -> None:
    rejects(with_panels({"name": "a", "parent": "a", "fuse_a": 32}), "panels[0].parent")


def test_a_charger_in_two_panels_is_refused() -> None:
    message = rejects(
        with_panels(
            {"name": "a", "fuse_a": 32, "chargers": ["CP01"]},
            {"name": "b", "fuse_a": 32, "chargers": ["CP02", "CP01"]},
        ),
        "panels[1].chargers",
    )
    assert "'CP01' is already in panel 'a'" in message


def test_a_panel_name_is_unique_and_site_is_taken() -> None:
    rejects(with_panels({"name": "a", "fuse_a": 32}, {"name": "a", "fuse_a": 32}), "panels[1].name")
    rejects(with_panels({"name": "site", "fuse_a": 32}), "panels[0].name")


def test_bad_fuses_rotations_and_keys_are_named() -> None:
    rejects(with_panels({"name": "a", "fuse_a": 0}), "panels[0].fuse_a")
    rejects(with_panels({"name": "a", "fuse_a": [32, 32]}), "panels[0].fuse_a")
    rejects(with_panels({"name": "a"}), "panels[0].fuse_a")
    rejects(
        with_panels({"name": "a", "fuse_a": 32, "phase_rotation": [1, 1, 2]}),
        "panels[0].phase_rotation",
    )
    message = rejects(
        with_panels({"name": "a", "fuse_a": 32, "fuse_amps": 3}), "panels[0].fuse_amps"
    )
    assert "did you mean fuse_a?" in message
    rejects(
        with_panels({"name": "a", "fuse_a": 32, "chargers": ["bad/id"]}), "panels[0].chargers[0]"
    )
    rejects(
        with_panels({"name": "a", "fuse_a": 32, "meter": {"map": "eastron_sdm630"}}),
        "panels[0].meter.host",
    )


def test_a_child_fuse_above_its_parent_is_only_a_warning() -> None:
    config = balancer_of(
        with_panels(
            {"name": "floor-1", "fuse_a": [40, 30, 20]},
            {"name": "row-a", "parent": "floor-1", "fuse_a": 32, "phase_rotation": [3, 1, 2]},
            {"name": "big", "fuse_a": [40, 35.5, 50]},
        )
    )
    # row-a phases 1, 2, 3 are fed by floor-1 phases 3, 1, 2; the site cap is [40, 35.5, 40]
    assert config.warnings == (
        "panels[1].fuse_a: L1 32 A is above panel 'floor-1' (20 A on the phase feeding it)",
        "panels[1].fuse_a: L3 32 A is above panel 'floor-1' (30 A on the phase feeding it)",
        "panels[2].fuse_a: L3 50 A is above the site's phase_cap_a (40 A on the phase feeding it)",
    )


def test_safe_currents_that_do_not_fit_a_panel_are_refused_naming_it() -> None:
    # CP01: 2 EVSEs x 8 A = 16 A on every phase; CP02 (2 EVSEs, as unlisted chargers have) 1-phase
    # at 6 A on its panel's phase 2, which the panel's rotation wires to site L3: 28 A there.
    panel = {
        "name": "row-a",
        "fuse_a": 20,
        "chargers": ["CP01", "CP02"],
        "phase_rotation": [2, 3, 1],
    }
    message = rejects(with_panels(panel), "chargers.safe_current_a")
    assert message == (
        "chargers.safe_current_a: panel row-a L3: safe currents of 4 EVSEs sum to 28.0 A, more "
        "than the fuse 20.0 A minus margin 2.0 A = 18.0 A"
    )
    assert balancer_of(with_panels(panel | {"fuse_a": [20, 30, 20]})).panels


def test_panels_without_a_site_section_are_refused() -> None:
    data = {**{k: v for k, v in FULL.items() if k in ("router", "metrics")}, "panels": []}
    rejects(data, "panels")


def test_the_model_places_a_charger_in_its_panel_for_the_allocator() -> None:
    config = balancer_of(with_panels({"name": "row-a", "fuse_a": 32, "chargers": ["CP01"]}))
    model = SiteModel(config, clock=lambda: 0.0)
    model.handle(ev.ChargerConnected("CP01", OcppVersion.V201))
    states: tuple[EvseState, ...] = evse_states(model, 0.0, {}, set(), {})
    assert {state.panel for state in states} == {"row-a"}
    assert all(state.session is SessionState.IDLE for state in states)


def test_a_reload_moves_connected_chargers_to_the_panels_it_names() -> None:
    config = balancer_of(with_panels({"name": "row-a", "fuse_a": 32, "chargers": ["CP01"]}))
    model = SiteModel(config, clock=lambda: 0.0)
    model.handle(ev.ChargerConnected("CP01", OcppVersion.V201))
    rotated = balancer_of(
        with_panels(
            {"name": "row-b", "fuse_a": 32, "chargers": ["CP01"], "phase_rotation": [3, 1, 2]}
        )
    )
    model.reconfigure(rotated)
    states = evse_states(model, 0.0, {}, set(), {})
    assert {(state.panel, state.phase_map) for state in states} == {("row-b", (3, 1, 2))}
    model.reconfigure(balancer_of(full()))  # no panels any more: the row is gone
    states = evse_states(model, 0.0, {}, set(), {})
    assert {(state.panel, state.phase_map) for state in states} == {(None, (1, 2, 3))}
