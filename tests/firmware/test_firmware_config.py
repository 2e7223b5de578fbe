"""The [firmware] section: what check-config accepts, and the key it names when it does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config_file.table import ConfigError
from lc.config import parse_config

UPSTREAM = "ws://csms.example.net:9000/ocpp"


def _config(firmware: dict[str, Any], **router: Any) -> dict[str, Any]:
    return {"router": {"upstream_url": UPSTREAM, **router}, "firmware": firmware}


def test_without_the_section_no_firmware_is_published() -> None:
    assert parse_config({"router": {"upstream_url": UPSTREAM}}).firmware is None


def test_defaults_and_the_public_host_from_a_specific_listen_host(tmp_path: Path) -> None:
    folder = tmp_path / "firmware"
    settings = parse_config(
        _config({"folder": str(folder), "listen_host": "10.0.0.2", "max_mb": 2})
    ).firmware
    assert settings is not None
    assert (settings.folder, settings.max_bytes) == (folder, 2 * 2**20)
    assert (settings.public_host, settings.listen_port, settings.https_port) == (
        "10.0.0.2",
        9080,
        None,
    )
    assert (settings.max_fetches, settings.max_fetches_per_client) == (10, 2)


@pytest.mark.parametrize(
    ("firmware", "error"),
    [
        ({"folder": "/no/such/parent/firmware"}, r"^firmware\.folder: the folder '/no/such/"),
        ({}, r"^firmware\.folder: required key is missing"),
        ({"folder": "{tmp}", "max_mb": 0}, r"^firmware\.max_mb: must be at least 1"),
        ({"folder": "{tmp}"}, r"^firmware\.public_host: required when listen_host is '0\.0\.0\.0'"),
        ({"folder": "{tmp}", "public_host": "h", "https_port": 9443}, r"^firmware\.https_port:"),
        (
            {"folder": "{tmp}", "public_host": "h", "listen_port": 9000},
            r"^firmware\.listen_port: 9000 is router\.listen_port too",
        ),
        ({"folder": "{tmp}", "public_host": "h", "max_bytes": 5}, r"^firmware\.max_bytes: unknown"),
        (
            {"folder": "{tmp}", "public_host": "h", "max_fetches": 0},
            r"^firmware\.max_fetches: must be",
        ),
        (
            {"folder": "{tmp}", "public_host": "h", "max_fetches": 2, "max_fetches_per_client": 3},
            r"^firmware\.max_fetches_per_client: 3 is more than max_fetches \(2\)",
        ),
    ],
)
def test_a_bad_firmware_section_names_the_key(
    tmp_path: Path, firmware: dict[str, Any], error: str
) -> None:
    filled = {k: str(tmp_path) if v == "{tmp}" else v for k, v in firmware.items()}
    with pytest.raises(ConfigError, match=error):
        parse_config(_config(filled))
