"""The manufacturer's signature on a firmware file (L01): the signing certificate checked
against the installed ManufacturerRootCertificates, the signature over the whole file."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from firmware.signature import InvalidSigningCertificate, signature_valid, signing_certificate
from tests.firmware.origin import FIRMWARE
from tests.router.test_tls import Pki

NOW = datetime.now(UTC)


def _sign(key_file: Path, data: bytes) -> str:
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH)
        signature = key.sign(data, pss, hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


@pytest.fixture
def manufacturer(tmp_path: Path) -> Pki:
    (tmp_path / "manufacturer").mkdir()
    return Pki(tmp_path / "manufacturer")


@pytest.fixture
def release(tmp_path: Path) -> Path:
    file = tmp_path / "release.bin"
    file.write_bytes(FIRMWARE)
    return file


def _root(pki: Pki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pki.ca.read_bytes())


@pytest.mark.parametrize("rsa_key", [False, True], ids=["ecdsa", "rsa-pss"])
def test_a_file_the_manufacturer_signed_is_accepted_and_any_other_is_not(
    manufacturer: Pki, release: Path, rsa_key: bool
) -> None:
    certificate_file, key_file = manufacturer.issue("Firmware Signing", "signer", rsa_key=rsa_key)
    pem = certificate_file.read_text()
    certificate = signing_certificate(pem, [_root(manufacturer)], NOW)
    good = _sign(key_file, FIRMWARE)
    assert signature_valid(release, good, certificate.public_key())

    release.write_bytes(FIRMWARE[:-1] + bytes([FIRMWARE[-1] ^ 1]))  # one bit changed
    assert not signature_valid(release, good, certificate.public_key())
    release.write_bytes(FIRMWARE)
    _, other_key = manufacturer.issue("Someone Else", "other", rsa_key=rsa_key)
    assert not signature_valid(release, _sign(other_key, FIRMWARE), certificate.public_key())
    assert not signature_valid(release, "not base64!", certificate.public_key())


def test_a_signing_certificate_of_another_root_or_out_of_date_is_refused(
    manufacturer: Pki, tmp_path: Path
) -> None:
    (tmp_path / "impostor").mkdir()
    impostor = Pki(tmp_path / "impostor")
    pem = impostor.issue("Firmware Signing", "signer")[0].read_text()
    with pytest.raises(InvalidSigningCertificate, match="no installed ManufacturerRoot"):
        signing_certificate(pem, [_root(manufacturer)], NOW)
    genuine = manufacturer.issue("Firmware Signing", "signer")[0].read_text()
    with pytest.raises(InvalidSigningCertificate, match="not valid now"):
        signing_certificate(genuine, [_root(manufacturer)], NOW + timedelta(days=2))
    with pytest.raises(InvalidSigningCertificate, match="no installed"):
        signing_certificate(genuine, [], NOW)
    with pytest.raises(InvalidSigningCertificate, match="not a PEM certificate"):
        signing_certificate("-----BEGIN CERTIFICATE-----\nxx\n", [_root(manufacturer)], NOW)


def test_a_certificate_that_is_no_ca_cannot_vouch_for_a_signer(manufacturer: Pki) -> None:
    leaf_file, leaf_key_file = manufacturer.issue("Not A CA", "leaf")
    leaf = x509.load_pem_x509_certificate(leaf_file.read_bytes())
    leaf_key = serialization.load_pem_private_key(leaf_key_file.read_bytes(), None)
    assert isinstance(leaf_key, ec.EllipticCurvePrivateKey)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Firmware Signing")])
    signer = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(leaf.subject)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(hours=1))
        .sign(leaf_key, hashes.SHA256())  # a valid signature, by a key that is no CA's
    )
    pem = signer.public_bytes(serialization.Encoding.PEM).decode() + leaf_file.read_text()
    with pytest.raises(InvalidSigningCertificate, match="broken chain"):
        signing_certificate(pem, [_root(manufacturer)], NOW)
