"""CertificateHashData as OCPP 2.0.1 defines it (Part 2, CertificateHashDataType).

- issuerNameHash: the hash of the DER encoding of the certificate's issuer name;
- issuerKeyHash: the hash of the issuer's public key, the value of the subjectPublicKey
  BIT STRING of the issuer's certificate without tag, length and unused-bits octet (as OCSP's
  CertID, RFC 6960);
- serialNumber: the serial number in hexadecimal, without "0x" and without leading zeroes.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

HASH_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


def _digest(algorithm: str, data: bytes) -> str:
    digest = hashes.Hash(HASH_ALGORITHMS[algorithm]())
    digest.update(data)
    return digest.finalize().hex()


def _subject_public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value of a certificate, without the unused-bits octet."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
    #                                     subjectPublicKey BIT STRING }
    body_start, _ = _der_element(spki, 0)
    _, algorithm_end = _der_element(spki, body_start)
    key_start, key_end = _der_element(spki, algorithm_end)
    return spki[key_start + 1 : key_end]  # + 1: the unused-bits octet (0 for every key type)


def _der_element(der: bytes, offset: int) -> tuple[int, int]:
    """(start, end) of the content of the DER element whose tag is at `offset`."""
    first_length_octet = der[offset + 1]
    if first_length_octet < 0x80:
        return offset + 2, offset + 2 + first_length_octet
    count = first_length_octet & 0x7F
    start = offset + 2 + count
    return start, start + int.from_bytes(der[offset + 2 : start], "big")


def serial_number_hex(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def certificate_hash_data(
    certificate: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256"
) -> dict[str, Any]:
    """The CertificateHashDataType of `certificate`, issued by `issuer` (itself for a root)."""
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": _digest(algorithm, certificate.issuer.public_bytes()),
        "issuerKeyHash": _digest(algorithm, _subject_public_key_bits(issuer)),
        "serialNumber": serial_number_hex(certificate),
    }


def same_certificate(hash_data: dict[str, Any], candidate: dict[str, Any]) -> bool:
    """Whether two CertificateHashData name the same certificate (hex compared in any case)."""
    fields = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash")
    if any(str(hash_data[field]).lower() != str(candidate[field]).lower() for field in fields):
        return False
    # A CSMS may send the serial number with leading zeroes although the spec says without.
    return str(hash_data["serialNumber"]).lower().lstrip("0") == str(
        candidate["serialNumber"]
    ).lower().lstrip("0")
