"""The [external_limit] table: how an EMS may limit the site from outside OCPP (K14).

`http_token_sha256` (the SHA-256 of the bearer token, hex) turns on the HTTP endpoint on the
metrics port; the token itself never sits in the config file. `[external_limit.modbus]` turns on
the holding register the LC serves to the EMS. `allowed_clients` lists the hosts either input
takes from. It may be left out only while both listen on loopback: an input reachable from the
site network without it is a config error, since any host there could then set or release the
site's limit (Modbus has no authentication at all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from balancer.external_limit import Watchdog
from config_file.table import ConfigError, Table
from lc.allowed_clients import AllowedClients, is_loopback, parse_allowed_clients

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ModbusLimitSettings:
    listen_host: str
    listen_port: int
    unit_id: int
    register: int  # the holding register's address (0-based, as on the wire)
    unit: str  # "A": per phase; "W": the whole site, turned into A with the nominal voltage
    scale: float  # the register's count times this is the value in `unit`
    no_limit_value: int  # the count that means "no limit"
    watchdog: Watchdog | None  # None: a written limit holds until the next write


@dataclass(frozen=True, slots=True)
class ExternalLimitSettings:
    http_token_sha256: str | None = field(repr=False)  # None: no HTTP endpoint
    significance_pct: float  # SmartChargingCtrlr.LimitChangeSignificance, the file's value
    modbus: ModbusLimitSettings | None
    allowed_clients: AllowedClients | None = None  # None: the inputs listen on loopback only


def parse_external_limit_config(
    root: Table, balancing: bool, metrics_host: str
) -> ExternalLimitSettings | None:
    """`metrics_host`: where the HTTP endpoint listens (the metrics port's address)."""
    if not root.has("external_limit"):
        return None
    table = root.table("external_limit")
    if not balancing:
        raise ConfigError("external_limit: needs a [site] section: it limits the balancer")
    token_hash: str | None = None
    if table.has("http_token_sha256"):
        token_hash = table.string("http_token_sha256").lower()
        if not _SHA256_HEX.fullmatch(token_hash):
            raise ConfigError(
                f"{table.key('http_token_sha256')}: expected 64 hex digits, the SHA-256 of the "
                "token (printf %s TOKEN | sha256sum)"
            )
    else:
        table.raw("http_token_sha256", None)
    allowed = parse_allowed_clients(table, "allowed_clients")
    modbus = _modbus(table.table("modbus")) if table.has("modbus") else None
    listening = [("metrics.listen_host", metrics_host)] if token_hash is not None else []
    if modbus is not None:
        listening.append((table.key("modbus.listen_host"), modbus.listen_host))
    exposed = [f"{key} {host!r}" for key, host in listening if not is_loopback(host)]
    if allowed is None and exposed:
        raise ConfigError(
            f"{table.key('allowed_clients')}: required, the EMS's addresses: "
            f"{' and '.join(exposed)} is reachable from the network, where any host could "
            "otherwise set or release the site's external limit (or listen on 127.0.0.1)"
        )
    settings = ExternalLimitSettings(
        http_token_sha256=token_hash,
        significance_pct=table.number("limit_change_significance_pct", 10.0, minimum=0),
        modbus=modbus,
        allowed_clients=allowed,
    )
    table.finish()
    return settings


def _modbus(table: Table) -> ModbusLimitSettings:
    watchdog_s = table.number("watchdog_s", 0, minimum=0)
    fallback = table.optional_number("fallback_limit_a", minimum=0)
    settings = ModbusLimitSettings(
        listen_host=table.string("listen_host", "127.0.0.1"),
        listen_port=table.integer("listen_port", 5020, minimum=0, maximum=65535),
        unit_id=table.integer("unit_id", 1, minimum=0, maximum=247),
        register=table.integer("register", 0, minimum=0, maximum=65535),
        unit=table.choice("unit", ["A", "W"], "A"),
        scale=table.number("scale", 0.1, minimum=1e-6),
        no_limit_value=table.integer("no_limit_value", 65535, minimum=0, maximum=65535),
        watchdog=Watchdog(watchdog_s, fallback) if watchdog_s > 0 else None,
    )
    table.finish()
    return settings
