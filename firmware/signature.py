"""Is a firmware file the manufacturer's? (L01 SignedUpdateFirmware, for the LC's own updates)

The signing certificate must chain to an installed ManufacturerRootCertificate; the signature
is over the whole file, RSA-PSS or ECDSA with SHA-256 (L01.FR.04). Pure functions of bytes and
time, without I/O but reading the file; which roots are installed is the trust store's job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import (
    BasicConstraints,
    Certificate,
    ExtensionNotFound,
    load_pem_x509_certificates,
)


class InvalidSigningCertificate(ValueError):
    """The signing certificate does not chain to a ManufacturerRootCertificate (or is not
    valid now): UpdateFirmware is answered InvalidCertificate (L01.FR.02's security event)."""


def signing_certificate(pem: str, roots: Sequence[Certificate], now: datetime) -> Certificate:
    """The signing certificate of a PEM chain (leaf first), checked up to one of `roots`."""
    try:
        chain = load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise InvalidSigningCertificate(f"not a PEM certificate: {exc}") from exc
    for certificate in chain:
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise InvalidSigningCertificate(f"{certificate.subject.rfc4514_string()} not valid now")
    for child, parent in itertools.pairwise(chain):
        if not _issued_by(child, parent):
            raise InvalidSigningCertificate(f"{child.subject.rfc4514_string()}: broken chain")
    top = chain[-1]
    trusted = [r for r in roots if r.not_valid_before_utc <= now <= r.not_valid_after_utc]
    if not any(top == root or _issued_by(top, root) for root in trusted):
        raise InvalidSigningCertificate("no installed ManufacturerRootCertificate issued it")
    return chain[0]


def _issued_by(child: Certificate, parent: Certificate) -> bool:
    """Signed by `parent`, which is a CA (a leaf certificate cannot vouch for another)."""
    try:
        if not parent.extensions.get_extension_for_class(BasicConstraints).value.ca:
            return False
        child.verify_directly_issued_by(parent)
    except (ExtensionNotFound, ValueError, TypeError, InvalidSignature):
        return False
    return True


def signature_valid(path: Path, signature: str, key: PublicKeyTypes) -> bool:
    """Whether `signature` (base64) signs the whole file with `key` (a signing certificate's)."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    prehashed = Prehashed(hashes.SHA256())
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
            key.verify(raw, digest.digest(), pss, prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, digest.digest(), ec.ECDSA(prehashed))
        else:
            return False  # no other algorithm is allowed (L01.FR.04)
    except InvalidSignature:
        return False
    return True
