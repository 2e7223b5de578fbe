"""The LC's own charging-station certificates on disk.

`<folder>/station-<not before>-<serial>.pem` (chain, 0644) beside its `.key` (0600). A renewed
pair is stored beside the one in use and is on trial (`certificates.client_trial`) until the
LC's own link connected with one of them: `<folder>/on-trial` names it, so a restart resumes
the trial. The settled pair is the newest valid one but the one on trial, or the configured
files when there is none; once a connection settles it, the other pair is removed, key and
all (A02.FR.10). The key of a CSR still waiting for its certificate is `<folder>/pending.key`
(0600).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from certificates.chain import issued_by, valid_at
from certificates.files import PRIVATE_MODE, PUBLIC_MODE, write_atomically
from certificates.hash_data import certificate_hash_data
from certificates.keys import PrivateKey, load_private_key
from certificates.renewal import UseNewCertificate

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700  # it holds private keys
PENDING_KEY = "pending.key"
ON_TRIAL = "on-trial"  # the stem of the renewed pair on trial


@dataclass(frozen=True, slots=True)
class OwnCertificate:
    chain: list[x509.Certificate]
    certificate_path: Path
    key_path: Path

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    def hash_data(self, algorithm: str, roots: list[x509.Certificate]) -> dict[str, Any]:
        """Its CertificateHashData: the issuer is the next in the chain, or for a certificate
        sent alone the root (of `roots`) that issued it, else its issuer cannot be known and
        its own key stands in (a hash that names nothing installed)."""
        issuer = self.chain[1] if len(self.chain) > 1 else _issuer_among(self.certificate, roots)
        return certificate_hash_data(self.certificate, issuer or self.certificate, algorithm)


def _issuer_among(
    certificate: x509.Certificate, roots: list[x509.Certificate]
) -> x509.Certificate | None:
    return next((root for root in roots if issued_by(certificate, root)), None)


class OwnCertificates:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def store(self, new: UseNewCertificate) -> OwnCertificate:
        """Store a renewed pair, on trial; one still on trial from an earlier renewal never
        worked and goes."""
        chain = x509.load_pem_x509_certificates(new.chain_pem)
        stem = f"station-{new.not_before:%Y%m%dT%H%M%SZ}-{chain[0].serial_number:x}"
        self.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        key_path = self.folder / f"{stem}.key"
        certificate_path = self.folder / f"{stem}.pem"
        # The unproven one first, then the mark: after a crash at any point no pair that
        # never connected is taken for a settled one.
        unproven = self.on_trial()
        if unproven is not None and unproven.certificate_path != certificate_path:
            _remove(unproven)
        write_atomically(self.folder / ON_TRIAL, stem.encode("ascii"), PUBLIC_MODE)
        # The key next: a certificate file is only ever there with its key.
        write_atomically(key_path, new.private_key_pem, PRIVATE_MODE)
        write_atomically(certificate_path, new.chain_pem, PUBLIC_MODE)
        return OwnCertificate(chain, certificate_path, key_path)

    def on_trial(self) -> OwnCertificate | None:
        """The renewed pair no connection has settled yet, if any."""
        try:
            stem = (self.folder / ON_TRIAL).read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            return None
        return next((own for own in self.all() if own.certificate_path.stem == stem), None)

    def settled(self, now: datetime) -> OwnCertificate | None:
        """The newest pair valid at `now` but the one on trial; None: the configured files."""
        trial = self.on_trial()
        trial_path = trial.certificate_path if trial is not None else None
        return _newest(
            [
                own
                for own in self.all()
                if own.certificate_path != trial_path and valid_at(own.certificate, now)
            ]
        )

    def keep_only(self, kept: OwnCertificate | None) -> None:
        """A connection settled the trial: every other pair goes, key and all (A02.FR.10);
        None keeps none (the configured files are in use)."""
        for own in self.all():
            if kept is None or own.certificate_path != kept.certificate_path:
                _remove(own)
        (self.folder / ON_TRIAL).unlink(missing_ok=True)

    def keep_pending(self, private_key_pem: bytes) -> None:
        self.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        write_atomically(self.folder / PENDING_KEY, private_key_pem, PRIVATE_MODE)

    def forget_pending(self) -> None:
        (self.folder / PENDING_KEY).unlink(missing_ok=True)

    def pending(self) -> PrivateKey | None:
        """The kept key of a pending CSR; None without one (or with an unreadable one,
        which is removed: its certificate could only be refused)."""
        path = self.folder / PENDING_KEY
        try:
            return load_private_key(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.error("pending key %s unusable, removed: %s", path, exc)
            self.forget_pending()
            return None

    def all(self) -> list[OwnCertificate]:
        found = []
        for certificate_path in sorted(self.folder.glob("station-*.pem")):
            key_path = certificate_path.with_suffix(".key")
            if not key_path.exists():
                continue
            chain = x509.load_pem_x509_certificates(certificate_path.read_bytes())
            found.append(OwnCertificate(chain, certificate_path, key_path))
        return found

    def current(self, now: datetime) -> OwnCertificate | None:
        """The newest certificate valid at `now`, the one on trial included (what renewal
        watches for expiry), by the start of its validity; of two that start in the same
        second, the one stored last."""
        return _newest([own for own in self.all() if valid_at(own.certificate, now)])


def _newest(candidates: list[OwnCertificate]) -> OwnCertificate | None:
    return max(
        candidates,
        key=lambda own: (
            own.certificate.not_valid_before_utc,
            own.certificate_path.stat().st_mtime_ns,
        ),
        default=None,
    )


def _remove(own: OwnCertificate) -> None:
    # The certificate first: `all` never lists a certificate without its key.
    own.certificate_path.unlink(missing_ok=True)
    own.key_path.unlink(missing_ok=True)
    log.info("charging-station certificate %x discarded", own.certificate.serial_number)
