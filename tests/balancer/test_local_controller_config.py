"""A child LC in the parent's [[chargers]]: one EVSE, the chargers behind it left to it."""

from __future__ import annotations

from typing import Any

import pytest

from balancer.config import parse_balancer_config
from config_file.table import ConfigError, Table


def site(*chargers: dict[str, Any], **sections: Any) -> Table:
    data = {
        "site": {"phase_cap_a": 63},
        "meter": {"host": "127.0.0.1", "map": "abb_b23"},
        "chargers": list(chargers),
    }
    return Table(data | sections, "")


CHILD = {"identity": "LC-SUB-1", "max_current_a": 40, "safe_current_a": 10}


def test_the_chargers_behind_a_child_are_left_to_it() -> None:
    config = parse_balancer_config(
        site(CHILD | {"local_controller": True, "chargers_behind": ["CP-1", "CP-2"]})
    )
    assert config is not None
    assert config.charger("LC-SUB-1").local_controller
    assert config.behind_local_controller("CP-2")
    assert not config.behind_local_controller("LC-SUB-1")
    assert not config.behind_local_controller("CP-3")


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([CHILD | {"chargers_behind": ["CP-1"]}], "only with local_controller"),
        ([CHILD | {"local_controller": True, "evses": 2}], "one EVSE"),
        (
            [CHILD | {"local_controller": True, "chargers_behind": ["CP-1"]}, {"identity": "CP-1"}],
            "behind a local controller",
        ),
    ],
)
def test_a_child_is_configured_whole(entries: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_balancer_config(site(*entries))


def test_the_unlisted_chargers_cannot_be_controllers() -> None:
    unlisted = {"unlisted_chargers": {"local_controller": True}}
    with pytest.raises(ConfigError, match="unknown key"):
        parse_balancer_config(site(balancer=unlisted))
