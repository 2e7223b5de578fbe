"""The CA certificates the LC trusts, installed by the CSMS (M03 list, M04 delete, M05 install).

On disk: `<folder>/<certificateType>/<SHA-256 fingerprint>.pem`, one PEM certificate per file,
mode 0644 (certificates are public; the folder belongs to the LC's user). The installed CSMS
roots are what the LC verifies the CSMS against; manufacturer roots verify firmware signatures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certificates.chain import is_ca, issued_by, valid_at
from certificates.files import PUBLIC_MODE, write_atomically
from certificates.hash_data import certificate_hash_data, same_certificate

logger = logging.getLogger(__name__)

ROOT_TYPES = (
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "MORootCertificate",
    "V2GRootCertificate",
)
FOLDER_MODE = 0o755


class InstallOutcome(Enum):
    """InstallCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"  # not a valid root certificate, or the store is full (M05.FR.06/07)
    FAILED = "Failed"  # the disk did not take it (M05.FR.03)


class DeleteOutcome(Enum):
    """DeleteCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"  # the last CSMS root (M04.FR.03), or the disk refused
    NOT_FOUND = "NotFound"


@dataclass(frozen=True, slots=True)
class InstalledCertificate:
    certificate_type: str
    certificate: x509.Certificate
    path: Path

    def hash_data(self, algorithm: str = "SHA256") -> dict[str, Any]:
        # Only self-signed roots are installed, so each is its own issuer.
        return certificate_hash_data(self.certificate, self.certificate, algorithm)


def root_problem(certificate: x509.Certificate, now: datetime) -> str | None:
    """Why `certificate` cannot be a trusted root, or None."""
    if not is_ca(certificate):
        return "not a CA certificate"
    if not valid_at(certificate, now):
        return "outside its validity period"
    if not issued_by(certificate, certificate):
        return "not a self-signed root"
    return None


class TrustStore:
    def __init__(self, folder: Path, max_per_type: int = 20) -> None:
        self.folder = folder
        self.max_per_type = max_per_type

    def installed(self, certificate_type: str) -> list[InstalledCertificate]:
        """The installed certificates of one type, oldest file name first (stable order)."""
        folder = self.folder / certificate_type
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.glob("*.pem")):
            try:
                certificate = x509.load_pem_x509_certificate(path.read_bytes())
            except (OSError, ValueError) as exc:
                logger.warning("trust store: %s unreadable, ignored: %s", path, exc)
                continue
            found.append(InstalledCertificate(certificate_type, certificate, path))
        return found

    def roots(self, *certificate_types: str) -> list[x509.Certificate]:
        return [
            entry.certificate
            for certificate_type in certificate_types
            for entry in self.installed(certificate_type)
        ]

    def roots_pem(self, *certificate_types: str) -> str:
        """The installed certificates of these types, as one PEM text (ssl's `cadata`)."""
        return "".join(
            root.public_bytes(serialization.Encoding.PEM).decode("ascii")
            for root in self.roots(*certificate_types)
        )

    def install(self, certificate_type: str, pem: str, now: datetime) -> InstallOutcome:
        if certificate_type not in ROOT_TYPES:
            return InstallOutcome.REJECTED
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return InstallOutcome.REJECTED
        problem = root_problem(certificate, now)
        if problem is not None:
            logger.warning("trust store: %s refused: %s", certificate_type, problem)
            return InstallOutcome.REJECTED
        folder = self.folder / certificate_type
        path = folder / f"{certificate.fingerprint(hashes.SHA256()).hex()}.pem"
        # The same certificate again replaces itself (M05.FR.17); a new one needs room.
        if not path.exists() and len(self.installed(certificate_type)) >= self.max_per_type:
            return InstallOutcome.REJECTED
        try:
            folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
            data = certificate.public_bytes(serialization.Encoding.PEM)
            write_atomically(path, data, PUBLIC_MODE)
        except OSError as exc:
            logger.error("trust store: cannot write %s: %s", path, exc)
            return InstallOutcome.FAILED
        logger.info("trust store: installed %s %s", certificate_type, certificate.subject)
        return InstallOutcome.ACCEPTED

    def find(self, hash_data: dict[str, Any]) -> InstalledCertificate | None:
        algorithm = str(hash_data["hashAlgorithm"])
        for certificate_type in ROOT_TYPES:
            for entry in self.installed(certificate_type):
                if same_certificate(hash_data, entry.hash_data(algorithm)):
                    return entry
        return None

    def delete(self, hash_data: dict[str, Any]) -> DeleteOutcome:
        entry = self.find(hash_data)
        if entry is None:
            return DeleteOutcome.NOT_FOUND
        # Without a CSMS root the LC could not verify its CSMS any more (M04.FR.03 note).
        if entry.certificate_type == "CSMSRootCertificate" and (
            len(self.installed("CSMSRootCertificate")) <= 1
        ):
            return DeleteOutcome.FAILED
        try:
            entry.path.unlink()
        except OSError as exc:
            logger.error("trust store: cannot delete %s: %s", entry.path, exc)
            return DeleteOutcome.FAILED
        logger.info("trust store: deleted %s %s", entry.certificate_type, entry.certificate.subject)
        return DeleteOutcome.ACCEPTED
