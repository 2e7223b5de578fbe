"""The whole site config file (TOML): the router's sections, the load balancer's and the
LC's own identity's."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from balancer.config import BalancerConfig, parse_balancer_config
from certificates.config import CertificateSettings, parse_certificate_config
from config_file.state_directory import parse_state_directory
from config_file.table import ConfigError, Table
from firmware.config import FirmwareSettings, parse_firmware_config
from lc.external_limit_config import ExternalLimitSettings, parse_external_limit_config
from router.config import MetricsSettings, parse_router_config
from router.settings import RouterSettings
from station.config import StationConfig, parse_station_config


@dataclass(frozen=True, slots=True)
class SiteConfig:
    router: RouterSettings
    metrics: MetricsSettings
    connection_loss: str
    balancer: BalancerConfig | None  # None: the LC only routes
    certificates: CertificateSettings | None = None  # None: no [certificates] section
    firmware: FirmwareSettings | None = None  # None: the LC publishes no firmware
    station: StationConfig | None = None  # None: the LC has no identity of its own at the CSMS
    external_limit: ExternalLimitSettings | None = None  # None: no EMS may limit the site
    state_directory: Path | None = None  # None: none configured, found or needed


def parse_config(data: dict[str, Any], environ: Mapping[str, str] | None = None) -> SiteConfig:
    """`environ`: the process environment by default (systemd's $STATE_DIRECTORY)."""
    root = Table(data, "")
    state = parse_state_directory(root, os.environ if environ is None else environ)
    router, metrics, policy = parse_router_config(root, state)
    balancer = parse_balancer_config(root)
    certificates = parse_certificate_config(root, state)
    taken = {"router.listen_port": router.listen_port, "metrics.listen_port": metrics.listen_port}
    firmware = parse_firmware_config(root, taken, router.server_ssl is not None, state)
    station = parse_station_config(root, router, state)
    external_limit = parse_external_limit_config(root, balancer is not None, metrics.listen_host)
    root.finish()
    return SiteConfig(
        router,
        metrics,
        policy,
        balancer,
        certificates,
        firmware,
        station,
        external_limit,
        state.folder,
    )


def state_paths(config: SiteConfig) -> list[tuple[str, Path]]:
    """Where the LC keeps its state, by config key, relative paths resolved: for an installer
    to check (and back up) before the first start."""
    paths = [("state_directory", config.state_directory)]
    if config.router.hold is not None:
        paths.append(("router.offline.journal_path", config.router.hold.journal_path))
    if config.station is not None:
        paths.append(("station.state_path", config.station.state_path))
    if config.certificates is not None:
        paths.append(("certificates.folder", config.certificates.folder))
    if config.firmware is not None:
        paths.append(("firmware.folder", config.firmware.folder))
    return [(key, path) for key, path in paths if path is not None]


def load_config(path: Path) -> SiteConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data)
