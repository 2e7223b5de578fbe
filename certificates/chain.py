"""Checking a certificate chain the CSMS sends against the roots the LC trusts (A02.FR.06).

Path validation in the sense of RFC 5280 §6 for what OCPP asks: each certificate within its
validity period and signed by the next, every issuer a CA, the last one issued by (or being)
an installed root. No web-PKI profile is imposed: a CSO's CA need not follow one.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

from cryptography import x509
from cryptography.exceptions import InvalidSignature


class ChainProblem(Exception):
    """Why a chain was refused, in words fit for a security event's techInfo."""


def parse_chain(text: str) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ChainProblem("not PEM certificates") from exc
    if not chain:
        raise ChainProblem("no certificate")
    return chain


def valid_at(certificate: x509.Certificate, now: datetime) -> bool:
    """Whether `now` is within the certificate's validity period."""
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def _check_validity(certificate: x509.Certificate, now: datetime, what: str) -> None:
    if now > certificate.not_valid_after_utc:
        raise ChainProblem(f"{what} expired {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if what != "certificate" and now < certificate.not_valid_before_utc:
        # Whether a leaf valid from later is taken depends on the OCPP version: the caller's.
        raise ChainProblem(f"{what} not valid before {certificate.not_valid_before_utc}")


def verify_chain(
    chain: list[x509.Certificate], roots: list[x509.Certificate], now: datetime
) -> None:
    """Raises ChainProblem unless `chain` (leaf first) leads to one of `roots` at `now`."""
    for index, certificate in enumerate(chain):
        _check_validity(certificate, now, "certificate" if index == 0 else f"CA {index}")
    for index, (certificate, issuer) in enumerate(pairwise(chain)):
        if not is_ca(issuer):
            raise ChainProblem(f"CA {index + 1} is not a CA certificate")
        if not issued_by(certificate, issuer):
            raise ChainProblem(f"certificate {index} not signed by the next one in the chain")
    last = chain[-1]
    for root in roots:
        if valid_at(root, now) and (last == root or issued_by(last, root)):
            return
    raise ChainProblem("chain does not lead to an installed root")
