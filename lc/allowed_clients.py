"""Which hosts may use a control input the LC serves on the site network (the EMS's HTTP
endpoint and Modbus register): a list of IP addresses and networks from the config.

Anything that reaches a listen address may otherwise lower the site's limit or lift the EMS's;
a bearer token guards the HTTP endpoint, but Modbus has no authentication at all, so the peer's
address is the one check it can have.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from config_file.table import ConfigError, Table

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AllowedClients:
    networks: tuple[Network, ...]

    def admits(self, host: str) -> bool:
        """Whether a peer at `host` (its IP address as the socket gives it) may connect."""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])  # no IPv6 zone
        except ValueError:
            return False
        # A dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d.
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def parse_allowed_clients(table: Table, name: str) -> AllowedClients | None:
    """The list at `name`, or None when it is left out (the caller decides whether it may be)."""
    entries = table.optional_list(
        name, 'IP addresses or networks (e.g. ["192.168.10.5", "10.1.0.0/24"])'
    )
    if entries is None:
        return None
    networks = []
    for key, entry in entries:
        if not isinstance(entry, str):
            raise ConfigError(f"{key}: expected a string, got {entry!r}")
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=True))
        except ValueError as bad:
            raise ConfigError(f"{key}: {entry!r} is not an IP address or network: {bad}") from None
    return AllowedClients(tuple(networks))


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name, or "" (every interface): assume the site network
