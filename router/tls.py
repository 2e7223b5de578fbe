"""The LC's two TLS contexts for security profiles 2 and 3 (Part 4 §6.5, Part 2 A.1.3).

Towards chargers the LC is the TLS server with its own CSMS certificate; towards the CSMS it
is the TLS client, with its own charging-station certificate under profile 3. It stores no
certificate of either side: it only trusts the CAs it is given.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# A00.FR.318: the TLS 1.2 suites a CSMS must support, forward-secret ones first (A00.FR.319
# note 1). TLS 1.3 keeps OpenSSL's suites: all of them are AEAD with forward secrecy.
TLS12_CIPHER_SUITES = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
)

# (use, PEM file) of the certificates the LC presents or trusts, for the expiry metric.
CertificateFiles = tuple[tuple[str, Path], ...]


class TlsSettingError(Exception):
    """A TLS setting that cannot be used (a missing or bad file, a key without its certificate);
    `setting` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ChargerTlsSettings:
    """The LC as the TLS server chargers connect to."""

    # (certificate, private key) PEM files: the LC's own CSMS certificate followed by its
    # intermediate CAs, and its unencrypted key (the service starts without anyone to type a
    # password). Optionally a second pair with the other key type: the TLS_RSA suites of
    # A00.FR.318 need an RSA certificate and the ECDHE_ECDSA ones an ECDSA certificate, and a
    # charger need only support one of the two (A00.FR.319).
    certificates: tuple[tuple[Path, Path], ...]
    # Security profile 3: chargers must present a certificate this CA bundle verifies.
    charger_ca: Path | None = None


@dataclass(frozen=True, slots=True)
class UpstreamTlsSettings:
    """The LC as the TLS client of the CSMS."""

    ca: Path | None = None  # the CAs the CSMS certificate must chain to; None: the system's
    # Security profile 3: the LC's own charging-station certificate and its key.
    certificate: Path | None = None
    private_key: Path | None = None
    # CSMS roots the CSMS installed (InstallCertificate), trusted besides `ca`: PEM text.
    installed_roots: str = ""


def charger_context(settings: ChargerTlsSettings) -> ssl.SSLContext:
    """The server context towards chargers; it requires client certificates under profile 3."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _restrict_to_the_spec(context)
    if not 1 <= len(settings.certificates) <= 2:
        raise TlsSettingError("certificate", "one certificate, or two of different key types")
    # OpenSSL keeps one certificate per key type and picks the one the agreed suite needs.
    key_types = [_load_own_certificate(context, *pair) for pair in settings.certificates]
    if len(set(key_types)) < len(key_types):
        raise TlsSettingError(
            "certificate", f"both certificates have {key_types[0]} keys: one RSA, one ECDSA"
        )
    if settings.charger_ca is not None:
        _load_ca(context, "charger_ca", settings.charger_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def upstream_context(settings: UpstreamTlsSettings) -> ssl.SSLContext:
    """The client context towards the CSMS: its chain and host name are always verified."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    # A00.FR.412: a CSMS certificate may name its FQDN in the CN alone.
    context.hostname_checks_common_name = True
    _restrict_to_the_spec(context)
    if settings.ca is None:
        context.load_default_certs()
    else:
        _load_ca(context, "ca", settings.ca)
    if settings.installed_roots:
        context.load_verify_locations(cadata=settings.installed_roots)
    if settings.certificate is not None or settings.private_key is not None:
        if settings.certificate is None:
            raise TlsSettingError("certificate", "required with private_key")
        if settings.private_key is None:
            raise TlsSettingError("private_key", "required with certificate")
        _load_own_certificate(context, settings.certificate, settings.private_key)
    return context


def _restrict_to_the_spec(context: ssl.SSLContext) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # A00.FR.313, whatever the distribution's
    context.set_ciphers(":".join(TLS12_CIPHER_SUITES))
    context.options |= ssl.OP_NO_COMPRESSION  # A00.FR.321


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsSettingError(setting, f"cannot read {path}: {exc.strerror}") from exc


def _load_ca(context: ssl.SSLContext, setting: str, path: Path) -> None:
    pem = _read(setting, path).decode("ascii", errors="replace")
    try:
        context.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:  # ValueError: an empty file
        raise TlsSettingError(setting, f"{path}: no usable PEM certificate in it") from exc


def _load_own_certificate(context: ssl.SSLContext, certificate: Path, private_key: Path) -> str:
    """Load a certificate chain and its key, saying which file is wrong and how; the key type.

    OpenSSL names neither file in its errors, so both are parsed here first.
    """
    try:
        leaf = x509.load_pem_x509_certificates(_read("certificate", certificate))[0]
    except ValueError as exc:
        raise TlsSettingError("certificate", f"{certificate}: no PEM certificate in it") from exc
    try:
        key = load_pem_private_key(_read("private_key", private_key), password=None)
    except TypeError as exc:
        raise TlsSettingError(
            "private_key", f"{private_key}: encrypted; the LC needs it unencrypted"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TlsSettingError("private_key", f"{private_key}: no PEM private key in it") from exc
    if leaf.public_key() != key.public_key():
        raise TlsSettingError(
            "private_key", f"{private_key} does not match the certificate in {certificate}"
        )
    try:
        context.load_cert_chain(certificate, private_key)
    except ssl.SSLError as exc:  # e.g. a key too weak for OpenSSL's security level
        raise TlsSettingError("certificate", f"{certificate}: not usable: {exc.reason}") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    return "ECDSA" if isinstance(key, ec.EllipticCurvePrivateKey) else type(key).__name__
