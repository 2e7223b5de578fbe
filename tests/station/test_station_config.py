"""The [station] table: defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config_file.table import ConfigError
from lc.config import load_config, parse_config
from station.link import StationSettings
from tests.lc_process import example_config


def site(**station: Any) -> dict[str, Any]:
    return {
        "router": {"upstream_url": "ws://csms.example.net:9000/ocpp/"},
        "station": {"identity": "LC-1", **station},
    }


def test_no_station_table_means_no_identity() -> None:
    config = parse_config({"router": {"upstream_url": "ws://csms.example.net:9000"}})
    assert config.station is None


def test_csms_url_defaults_to_the_upstream_with_the_identity() -> None:
    station = parse_config(site()).station
    assert station is not None
    assert station.csms_url == "ws://csms.example.net:9000/ocpp/LC-1"
    assert station.description.vendor and station.description.model
    assert station.password is None


@pytest.mark.parametrize(
    ("station", "key"),
    [
        ({"identity": ""}, "station.identity"),
        ({"csms_url": "http://csms"}, "station.csms_url"),
        ({"ocpp_version": "2.1"}, "station.ocpp_version"),
        # 1.6's BootNotification allows 20 characters where 2.0.1's allows 50.
        ({"ocpp_version": "1.6", "vendor": "Vendor Name Of 21 Chr"}, "station.vendor"),
        ({"model": "a model name beyond twenty"}, "station.model"),
        ({"password": "short"}, "station.password"),
        ({"reconnect_wait_minimum_s": 0}, "station.reconnect_wait_minimum_s"),
        ({"heartbeat": 5}, "station.heartbeat"),
        ({"state_path": "no-such-folder/state.json"}, "station.state_path"),
    ],
)
def test_a_bad_key_is_named(station: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}:"):
        parse_config(site(**station))


def test_a_bad_password_is_not_quoted_in_the_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(site(password="tooshort-secret"))
    assert "tooshort-secret" not in str(error.value)
    station = parse_config(site(password="a-password-of-24-chars!!")).station
    assert station is not None and "a-password" not in repr(station)


def test_the_example_config_gives_the_lc_an_identity(tmp_path: Path) -> None:
    station = load_config(example_config(tmp_path)).station
    assert station is not None
    assert station.identity == "LC-GARAGE-1"
    assert station.csms_url == "ws://csms.example.net:9000/LC-GARAGE-1"
    assert station.description.serial == "SN-0001"


def test_the_link_settings_do_not_show_the_password() -> None:
    settings = StationSettings("LC-1", "a-password-of-24-chars!!")
    assert "a-password" not in repr(settings)
