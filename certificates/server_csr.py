"""A new key and a certificate request for the LC's server certificate towards chargers, for a
site CA to sign (`scripts/lc csr`). The signed certificate and the key then go where
[router.tls] points, and SIGHUP gives them to new charger connections."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from certificates.config import CertificateSettings
from certificates.files import PRIVATE_MODE, PUBLIC_MODE, write_atomically
from certificates.keys import build_csr, csr_pem, generate_key, private_key_pem

KEY_FILE = "lc-server.key"
CSR_FILE = "lc-server.csr"


class CsrError(Exception):
    """What keeps the request from being written, naming the key or file at fault."""


@dataclass(frozen=True, slots=True)
class WrittenRequest:
    key_path: Path
    csr_path: Path


def _alternative_name(common_name: str) -> x509.GeneralName:
    """The name a charger checks: TLS clients look at subjectAltName before the CN."""
    try:
        return x509.IPAddress(ipaddress.ip_address(common_name))
    except ValueError:
        return x509.DNSName(common_name)


def write_server_request(settings: CertificateSettings, out: Path) -> WrittenRequest:
    if settings.server_common_name is None:
        raise CsrError("certificates.server_common_name: required for a server certificate")
    if not out.is_dir():
        raise CsrError(f"--out: {out} is not a folder")
    key_path, csr_path = out / KEY_FILE, out / CSR_FILE
    if key_path.exists():
        # It may be the key in use: a new request must never overwrite it.
        raise CsrError(f"--out: {key_path} exists; move it away or choose another folder")
    key = generate_key(settings.key_type)
    subject_alt_name = x509.SubjectAlternativeName([_alternative_name(settings.server_common_name)])
    request = build_csr(
        key,
        settings.server_common_name,
        settings.organization,
        extension=subject_alt_name,
    )
    write_atomically(key_path, private_key_pem(key), PRIVATE_MODE)
    write_atomically(csr_path, csr_pem(request).encode("ascii"), PUBLIC_MODE)
    return WrittenRequest(key_path, csr_path)
