"""A throw-away certificate authority made with `cryptography`, standing in for a CSO's CA."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.x509.oid import NameOID

ONE_DAY = timedelta(days=1)


def name(common_name: str, organization: str = "Test CSO") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def pem(*certificates: x509.Certificate) -> str:
    return "".join(
        certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        for certificate in certificates
    )


class TestCa:
    """A root CA, optionally with an intermediate that signs the leaf certificates."""

    __test__ = False  # not a test class for pytest

    def __init__(self, common_name: str = "Test CSO Root", intermediate: bool = False) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._ca_certificate(
            name(common_name), name(common_name), self.root_key.public_key(), self.root_key
        )
        self.signing_key = self.root_key
        self.signing_certificate = self.root
        self.intermediate: x509.Certificate | None = None
        if intermediate:
            self.signing_key = ec.generate_private_key(ec.SECP256R1())
            self.intermediate = self._ca_certificate(
                name(f"{common_name} Sub-CA"),
                self.root.subject,
                self.signing_key.public_key(),
                self.root_key,
            )
            self.signing_certificate = self.intermediate

    @staticmethod
    def _ca_certificate(
        subject: x509.Name,
        issuer: x509.Name,
        public_key: CertificateIssuerPublicKeyTypes,
        signing_key: ec.EllipticCurvePrivateKey,
    ) -> x509.Certificate:
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - ONE_DAY)
            .not_valid_after(now + 3650 * ONE_DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(signing_key, hashes.SHA256())
        )

    def sign(
        self,
        csr: x509.CertificateSigningRequest,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        subject_alt_ip: str | None = None,
    ) -> x509.Certificate:
        """A leaf certificate for the CSR's key and subject, after checking its signature."""
        assert csr.is_signature_valid, "the CSR is not signed by the key it carries"
        now = datetime.now(UTC)
        builder = x509.CertificateBuilder()
        for requested in csr.extensions:  # what the requester asked for, e.g. its host name
            builder = builder.add_extension(requested.value, requested.critical)
        if subject_alt_ip is not None:
            address = x509.IPAddress(ipaddress.ip_address(subject_alt_ip))
            builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
        return (
            builder.subject_name(csr.subject)
            .issuer_name(self.signing_certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - ONE_DAY)
            .not_valid_after(not_after or now + 365 * ONE_DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.signing_key, hashes.SHA256())
        )

    def chain_pem(self, leaf: x509.Certificate) -> str:
        """The leaf followed by the intermediate, as a CertificateSigned carries it."""
        intermediates = [self.intermediate] if self.intermediate is not None else []
        return pem(leaf, *intermediates)

    def issue_server(self, directory: Path, address: str = "127.0.0.1") -> tuple[Path, Path]:
        """A TLS server certificate for `address` (chain file, key file), as a CSMS has."""
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(name(address))
        leaf = self.sign(csr.sign(key, hashes.SHA256()), subject_alt_ip=address)
        certificate_path, key_path = directory / "server.pem", directory / "server.key"
        certificate_path.write_text(self.chain_pem(leaf))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return certificate_path, key_path
