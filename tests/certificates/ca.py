"""A throw-away certificate authority made with `cryptography`, standing in for a CSO's CA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    ) -> x509.Certificate:
        """A leaf certificate for the CSR's key and subject, after checking its signature."""
        assert csr.is_signature_valid, "the CSR is not signed by the key it carries"
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
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
