"""The router's sections of the site config: [router] and [metrics]."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from router.config_reader import ConfigError, Table
from router.offline import OfflineSettings
from router.server import HoldSettings, RouterSettings
from router.session import SessionSettings, ValidationMode

CONNECTION_LOSS_POLICIES = ("hold", "close")


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9100


def _router_settings(table: Table) -> tuple[RouterSettings, str]:
    upstream = table.string("upstream_url")
    parsed = urlparse(upstream)
    if parsed.scheme not in ("ws", "wss") or not parsed.hostname:
        raise ConfigError(
            f"{table.key('upstream_url')}: expected ws://host[:port][/path] or wss://..., "
            f"got {upstream!r}"
        )
    ping = table.number("ping_interval_s", 30, minimum=0)
    modes = [mode.value for mode in ValidationMode]
    session = SessionSettings(
        call_timeout_s=table.number("call_timeout_s", 30, minimum=0.1),
        max_frame_chars=table.integer("max_frame_bytes", 65536, minimum=1024, maximum=16 << 20),
        validation_to_csms=ValidationMode(table.choice("validation_to_csms", modes, "observe")),
        validation_to_charger=ValidationMode(
            table.choice("validation_to_charger", modes, "observe")
        ),
    )
    policy = table.choice("connection_loss", CONNECTION_LOSS_POLICIES, "hold")
    offline = table.table("offline", {})
    hold = _hold_settings(offline) if policy == "hold" else None
    offline.finish()
    rate = table.number("max_frames_per_s", 50, minimum=0)
    max_chargers = table.integer("max_chargers", 0, minimum=0)
    settings = RouterSettings(
        upstream_url=upstream,
        listen_host=table.string("listen_host", "0.0.0.0"),
        listen_port=table.integer("listen_port", 9000, minimum=0, maximum=65535),
        ping_interval_s=ping or None,
        connect_timeout_s=table.number("connect_timeout_s", 10, minimum=0.1),
        session=session,
        max_frames_per_s=rate or None,
        frame_burst=table.integer("frame_burst", 200, minimum=1),
        max_chargers=max_chargers or None,
        hold=hold,
    )
    table.finish()
    return settings, policy


def _hold_settings(table: Table) -> HoldSettings:
    local_list = table.raw("local_list", [])
    if not isinstance(local_list, list) or not all(isinstance(tag, str) for tag in local_list):
        raise ConfigError(f"{table.key('local_list')}: expected a list of id tags (strings)")
    return HoldSettings(
        journal_path=Path(table.string("journal_path", "ocpp-lc-journal.sqlite")),
        offline=OfflineSettings(
            local_list=frozenset(local_list),
            accept_unknown_ids=table.boolean("accept_unknown_ids", False),
            redial_interval_s=table.number("redial_interval_s", 5.0, minimum=0.05),
        ),
    )


def _metrics_settings(table: Table) -> MetricsSettings:
    settings = MetricsSettings(
        listen_host=table.string("listen_host", "127.0.0.1"),
        listen_port=table.integer("listen_port", 9100, minimum=0, maximum=65535),
    )
    table.finish()
    return settings


def parse_router_config(root: Table) -> tuple[RouterSettings, MetricsSettings, str]:
    """The [router] and [metrics] sections: router settings, metrics endpoint, loss policy."""
    router, policy = _router_settings(root.table("router"))
    metrics = _metrics_settings(root.table("metrics", {}))
    return router, metrics, policy
