"""The [firmware] section of the site config: where published firmware is kept and served."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config_file.table import ConfigError, Table
from firmware.fetch_slots import DEFAULT_MAX_FETCHES, DEFAULT_MAX_FETCHES_PER_CLIENT

MIB = 2**20
_WILDCARDS = ("", "0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class FirmwareSettings:
    folder: Path
    max_bytes: int
    listen_host: str
    listen_port: int
    https_port: int | None  # None: HTTP only
    public_host: str  # the LC's address in the URIs chargers fetch
    max_fetches: int = DEFAULT_MAX_FETCHES  # at once, beyond: 503 with Retry-After
    max_fetches_per_client: int = DEFAULT_MAX_FETCHES_PER_CLIENT


def parse_firmware_config(
    root: Table, taken_ports: dict[str, int], tls_configured: bool
) -> FirmwareSettings | None:
    """The [firmware] section, or None without one. `taken_ports`: the other listeners'
    ports by key (a port in two places is an error naming this section's key)."""
    if not root.has("firmware"):
        return None
    table = root.table("firmware")
    folder = Path(table.string("folder"))
    if not folder.parent.is_dir():
        raise ConfigError(
            f"{table.key('folder')}: the folder {str(folder.parent)!r} does not exist "
            "(create it on persistent storage, writable by the LC's user)"
        )
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{table.key('folder')}: {str(folder)!r} is not a folder")
    max_mb = table.number("max_mb", 1024, minimum=1)
    listen_host = table.string("listen_host", "0.0.0.0")
    public_host = table.string("public_host", "" if listen_host in _WILDCARDS else listen_host)
    if not public_host:
        raise ConfigError(
            f"{table.key('public_host')}: required when listen_host is {listen_host!r}: the "
            "LC's address on the site network, as chargers reach it"
        )
    listen_port = table.integer("listen_port", 9080, minimum=0, maximum=65535)
    https_port = None
    if table.has("https_port"):
        if not tls_configured:
            raise ConfigError(
                f"{table.key('https_port')}: HTTPS uses the [router.tls] certificate; "
                "set that section or leave this key out"
            )
        https_port = table.integer("https_port", minimum=0, maximum=65535)
    max_fetches = table.integer("max_fetches", DEFAULT_MAX_FETCHES, minimum=1)
    per_client = table.integer(
        "max_fetches_per_client", min(DEFAULT_MAX_FETCHES_PER_CLIENT, max_fetches), minimum=1
    )
    if per_client > max_fetches:
        raise ConfigError(
            f"{table.key('max_fetches_per_client')}: {per_client} is more than "
            f"max_fetches ({max_fetches})"
        )
    table.finish()
    ports = {"listen_port": listen_port, "https_port": https_port}
    for name, port in ports.items():
        others = {key: p for key, p in taken_ports.items() if p == port and port}
        if name == "https_port" and port and port == listen_port:
            others["firmware.listen_port"] = port
        if others:
            raise ConfigError(
                f"{table.key(name)}: {port} is {', '.join(others)} too; each needs its own port"
            )
    return FirmwareSettings(
        folder,
        int(max_mb * MIB),
        listen_host,
        listen_port,
        https_port,
        public_host,
        max_fetches,
        per_client,
    )
