"""The site config's [certificates] section: where the certificates the CSMS manages live and
how the LC's new keys and certificate requests are made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from certificates.keys import KeyType
from config_file.table import ConfigError, Table


@dataclass(frozen=True, slots=True)
class CertificateSettings:
    folder: Path  # the trust store and the LC's renewed certificates and keys
    organization: str  # SecurityCtrlr.OrganizationName: the O of the LC's requests
    key_type: KeyType = KeyType.ECDSA_P256
    renew_days: float = 30.0
    cert_signing_wait_minimum_s: float = 60.0
    cert_signing_repeat_times: int = 3
    # The LC's FQDN (or address) chargers dial: the CN of its server certificate's request.
    server_common_name: str | None = None

    @property
    def trust_folder(self) -> Path:
        """The installed CA certificates, one folder per type."""
        return self.folder / "trust"

    @property
    def own_folder(self) -> Path:
        """The LC's renewed charging-station certificates beside their keys."""
        return self.folder / "station"


def parse_certificate_config(root: Table) -> CertificateSettings | None:
    """The [certificates] section, or None when the site has none."""
    if not root.has("certificates"):
        return None
    table = root.table("certificates")
    folder = Path(table.string("folder"))
    if not folder.parent.is_dir():
        raise ConfigError(
            f"{table.key('folder')}: the folder {str(folder.parent)!r} does not exist "
            "(the LC creates the last part itself, readable by its user only)"
        )
    organization = table.string("organization")
    if not organization.strip():
        raise ConfigError(f"{table.key('organization')}: must not be empty")
    key_type = KeyType(table.choice("key_type", [t.value for t in KeyType], "ecdsa-p256"))
    server_common_name = (
        table.string("server_common_name") if table.has("server_common_name") else None
    )
    settings = CertificateSettings(
        folder=folder,
        organization=organization,
        key_type=key_type,
        renew_days=table.number("renew_days", 30, minimum=1),
        cert_signing_wait_minimum_s=table.number("cert_signing_wait_minimum_s", 60, minimum=1),
        cert_signing_repeat_times=table.integer("cert_signing_repeat_times", 3, minimum=0),
        server_common_name=server_common_name,
    )
    table.finish()
    return settings
