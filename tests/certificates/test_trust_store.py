"""Block M on the LC's trust store: install, list with hash data, delete.

The hash data is checked against `openssl ocsp`, which computes the same CertID fields
(issuer name hash, issuer key hash, serial number) independently.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certificates.handlers import CertificateHandlers, InvalidPayload
from certificates.trust_store import TrustStore
from router.frames import ErrorKind
from tests.certificates.ca import ONE_DAY, TestCa, name, pem

NEEDS_OPENSSL = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _handlers(folder: Path, own: list[dict[str, Any]] | None = None) -> CertificateHandlers:
    own_hash_data = own or []
    return CertificateHandlers(TrustStore(folder), own_hash_data=lambda algorithm: own_hash_data)


def _install(handlers: CertificateHandlers, certificate_type: str, ca: TestCa) -> str:
    response = handlers.install_certificate(
        {"certificateType": certificate_type, "certificate": pem(ca.root)}
    )
    return str(response["status"])


def _openssl_cert_id(certificate_file: Path, algorithm: str) -> dict[str, str]:
    """issuerNameHash, issuerKeyHash and serialNumber of a self-signed root, by openssl."""
    request = certificate_file.with_suffix(".ocsp")
    digest = f"-{algorithm.lower()}"
    file = str(certificate_file)
    command = ["openssl", "ocsp", digest, "-issuer", file, "-cert", file, "-no_nonce"]
    subprocess.run(
        [*command, "-reqout", str(request)],
        check=True,
        capture_output=True,
    )
    text = subprocess.run(
        ["openssl", "ocsp", "-reqin", str(request), "-req_text"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.replace("\\\n", "")
    fields = {}
    for line in text.splitlines():
        label, _, value = line.strip().partition(": ")
        fields[label] = value.replace(" ", "")
    return {
        "issuerNameHash": fields["Issuer Name Hash"].lower(),
        "issuerKeyHash": fields["Issuer Key Hash"].lower(),
        "serialNumber": fields["Serial Number"].lower().lstrip("0"),
    }


@NEEDS_OPENSSL
@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_installed_roots_are_listed_with_the_hash_data_openssl_computes(
    tmp_path: Path, algorithm: str, key_type: str
) -> None:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        rsa.generate_private_key(65537, 2048)
        if key_type == "rsa"
        else ec.generate_private_key(ec.SECP384R1())
    )
    now = datetime.now(UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(name("Root with a long name", "Some Operator GmbH"))
        .issuer_name(name("Root with a long name", "Some Operator GmbH"))
        .public_key(key.public_key())
        .serial_number(0x00FF_0000_1234)  # leading zero bytes in DER: hex without them
        .not_valid_before(now - ONE_DAY)
        .not_valid_after(now + ONE_DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    store = TrustStore(tmp_path / "trust")
    handlers = CertificateHandlers(store)
    answer = handlers.install_certificate(
        {"certificateType": "MORootCertificate", "certificate": pem(root)}
    )
    assert answer == {"status": "Accepted"}
    [entry] = store.installed("MORootCertificate")

    expected = _openssl_cert_id(entry.path, algorithm)
    assert entry.hash_data(algorithm) == {"hashAlgorithm": algorithm, **expected}
    assert entry.hash_data(algorithm)["serialNumber"] == "ff00001234"
    listed = handlers.get_installed_certificate_ids({"certificateType": ["MORootCertificate"]})
    assert listed["status"] == "Accepted"
    [chain] = listed["certificateHashDataChain"]
    assert chain["certificateType"] == "MORootCertificate"
    sha256 = _openssl_cert_id(entry.path, "SHA256")
    assert chain["certificateHashData"] == {"hashAlgorithm": "SHA256", **sha256}


def test_each_type_is_listed_apart_and_an_absent_type_is_not_found(tmp_path: Path) -> None:
    handlers = _handlers(tmp_path)
    csms_root, manufacturer_root = TestCa("CSMS root"), TestCa("Manufacturer root")
    assert _install(handlers, "CSMSRootCertificate", csms_root) == "Accepted"
    assert _install(handlers, "ManufacturerRootCertificate", manufacturer_root) == "Accepted"
    # The same certificate again replaces itself (M05.FR.17).
    assert _install(handlers, "CSMSRootCertificate", csms_root) == "Accepted"

    everything = handlers.get_installed_certificate_ids({})
    types = [chain["certificateType"] for chain in everything["certificateHashDataChain"]]
    assert sorted(types) == ["CSMSRootCertificate", "ManufacturerRootCertificate"]
    v2g = handlers.get_installed_certificate_ids({"certificateType": ["V2GRootCertificate"]})
    assert v2g == {"status": "NotFound"}
    chain_request = {"certificateType": ["V2GCertificateChain"]}
    assert handlers.get_installed_certificate_ids(chain_request) == {"status": "NotFound"}


def test_certificates_are_world_readable_files_but_nothing_else_is_writable(
    tmp_path: Path,
) -> None:
    handlers = _handlers(tmp_path / "trust")
    assert _install(handlers, "V2GRootCertificate", TestCa()) == "Accepted"
    [file] = (tmp_path / "trust" / "V2GRootCertificate").glob("*.pem")
    assert stat.S_IMODE(file.stat().st_mode) == 0o644
    assert not list((tmp_path / "trust").rglob(".*.tmp"))


def test_a_certificate_that_is_no_valid_root_is_rejected(tmp_path: Path) -> None:
    handlers = _handlers(tmp_path)
    ca = TestCa()
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name("leaf"))
        .sign(leaf_key, hashes.SHA256())
    )
    leaf = ca.sign(csr)
    expired = ca.sign(
        csr,
        not_before=datetime.now(UTC) - timedelta(days=10),
        not_after=datetime.now(UTC) - ONE_DAY,
    )
    for bad in (pem(leaf), pem(expired), "-----BEGIN CERTIFICATE-----\nnot base64\n"):
        answer = handlers.install_certificate(
            {"certificateType": "CSMSRootCertificate", "certificate": bad}
        )
        assert answer == {"status": "Rejected"}
    assert handlers.get_installed_certificate_ids({}) == {"status": "NotFound"}


def test_delete_by_hash_data_and_never_the_last_csms_root(tmp_path: Path) -> None:
    store = TrustStore(tmp_path)
    handlers = CertificateHandlers(store)
    first, second = TestCa("first"), TestCa("second")
    assert _install(handlers, "CSMSRootCertificate", first) == "Accepted"
    assert _install(handlers, "CSMSRootCertificate", second) == "Accepted"
    by_subject = {
        entry.certificate.subject: entry for entry in store.installed("CSMSRootCertificate")
    }
    first_hash = by_subject[first.root.subject].hash_data("SHA384")
    second_hash = by_subject[second.root.subject].hash_data("SHA512")

    # Hex in capitals, as some CSMSs send it, names the same certificate.
    upper = {
        key: value.upper() if key != "hashAlgorithm" else value for key, value in first_hash.items()
    }
    assert handlers.delete_certificate({"certificateHashData": upper}) == {"status": "Accepted"}
    assert handlers.delete_certificate({"certificateHashData": first_hash}) == {
        "status": "NotFound"
    }
    # M04.FR.03: the LC would have nothing left to verify its CSMS against.
    assert handlers.delete_certificate({"certificateHashData": second_hash}) == {"status": "Failed"}
    assert [entry.certificate.subject for entry in store.installed("CSMSRootCertificate")] == [
        second.root.subject
    ]


def test_the_lcs_own_certificate_cannot_be_deleted(tmp_path: Path) -> None:
    own = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": "aa" * 32,
        "issuerKeyHash": "bb" * 32,
        "serialNumber": "1234",
    }
    handlers = _handlers(tmp_path, own=[own])
    assert handlers.delete_certificate({"certificateHashData": own}) == {"status": "Failed"}


def test_a_request_against_its_schema_raises_the_callerror_kind(tmp_path: Path) -> None:
    handlers = _handlers(tmp_path)
    with pytest.raises(InvalidPayload) as missing:
        handlers.install_certificate({"certificateType": "CSMSRootCertificate"})
    assert missing.value.violation.kind is ErrorKind.OCCURRENCE
    with pytest.raises(InvalidPayload) as unknown_type:
        handlers.get_installed_certificate_ids({"certificateType": ["ChargingStationCertificate"]})
    assert unknown_type.value.violation.kind is ErrorKind.PROPERTY
    assert set(handlers.table()) == {
        "InstallCertificate",
        "GetInstalledCertificateIds",
        "DeleteCertificate",
    }
