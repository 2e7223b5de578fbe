"""A02/A03 for the LC's charging-station certificate, against a real CA made in the test.

The CA checks the CSR's signature and subject before signing it, as a CSO's CA would; the
LC's answers to good and bad CertificateSigned requests are checked, and what it stores.
"""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certificates.keys import KeyType
from certificates.own_identity import OwnCertificates
from certificates.renewal import (
    SECURITY_EVENT,
    CertificateRenewal,
    ForgetPendingKey,
    KeepPendingKey,
    Output,
    RaiseSecurityEvent,
    RenewalSettings,
    SendSignCertificate,
    UseNewCertificate,
)
from tests.certificates.ca import ONE_DAY, TestCa, pem

IDENTITY = "LC-GARAGE-0001"
ORGANIZATION = "Example CSO"
SETTINGS = RenewalSettings(IDENTITY, ORGANIZATION, cert_signing_wait_minimum_s=60)


def _csr(outputs: list[Output]) -> x509.CertificateSigningRequest:
    """The CSR a start sends, after keeping its key."""
    [keep, request] = outputs
    assert isinstance(keep, KeepPendingKey) and "PRIVATE" not in repr(keep)
    assert isinstance(request, SendSignCertificate)
    assert request.payload["certificateType"] == "ChargingStationCertificate"
    return x509.load_pem_x509_csr(request.payload["csr"].encode("ascii"))


def _started(
    settings: RenewalSettings = SETTINGS,
) -> tuple[CertificateRenewal, x509.CertificateSigningRequest, datetime]:
    now = datetime.now(UTC)
    renewal = CertificateRenewal(settings)
    csr = _csr(renewal.trigger(now))
    assert renewal.sign_certificate_answered(True, now) == []
    return renewal, csr, now


@pytest.mark.parametrize("key_type", [KeyType.ECDSA_P256, KeyType.RSA_2048])
def test_a_triggered_renewal_installs_the_certificate_the_ca_signed(
    tmp_path: Path, key_type: KeyType
) -> None:
    ca = TestCa(intermediate=True)
    renewal, csr, now = _started(RenewalSettings(IDENTITY, ORGANIZATION, key_type=key_type))

    # A real PKCS#10 request, signed by the key it carries, with the spec's subject.
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == IDENTITY
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ORGANIZATION
    public_key = csr.public_key()
    if key_type is KeyType.ECDSA_P256:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert public_key.curve.name == "secp256r1"
    else:
        assert isinstance(public_key, rsa.RSAPublicKey)
        assert public_key.key_size == 2048

    leaf = ca.sign(csr)
    response, outputs = renewal.certificate_signed(
        {"certificateChain": ca.chain_pem(leaf), "certificateType": "ChargingStationCertificate"},
        [ca.root],
        now,
    )
    assert response == {"status": "Accepted"}
    [use, forget] = outputs
    assert isinstance(use, UseNewCertificate) and isinstance(forget, ForgetPendingKey)
    assert not renewal.waiting
    assert "PRIVATE" not in repr(use)  # the key stays out of logs

    own = OwnCertificates(tmp_path / "own")
    stored = own.store(use)
    assert stat.S_IMODE(stored.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.certificate_path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "own").stat().st_mode) == 0o700
    key = serialization.load_pem_private_key(stored.key_path.read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()
    current = own.current(now)
    assert current is not None
    assert current.certificate == leaf
    assert current.chain == [leaf, ca.intermediate]


def _rejected(
    renewal: CertificateRenewal, chain: str, roots: list[x509.Certificate], now: datetime
) -> str:
    response, outputs = renewal.certificate_signed({"certificateChain": chain}, roots, now)
    assert response["status"] == "Rejected"
    [event, forget] = outputs
    assert isinstance(event, RaiseSecurityEvent) and isinstance(forget, ForgetPendingKey)
    assert event.type == SECURITY_EVENT
    assert not renewal.waiting
    return event.tech_info


def test_a_certificate_for_another_key_is_rejected_with_the_security_event() -> None:
    ca = TestCa()
    renewal, csr, now = _started()
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(csr.subject)
        .sign(other_key, hashes.SHA256())
    )
    assert "another key" in _rejected(renewal, pem(ca.sign(other_csr)), [ca.root], now)


def test_a_chain_to_no_installed_root_or_a_broken_one_is_rejected() -> None:
    ca, stranger = TestCa(intermediate=True), TestCa("Somebody else")
    renewal, csr, now = _started()
    leaf = ca.sign(csr)
    assert "installed root" in _rejected(renewal, ca.chain_pem(leaf), [stranger.root], now)

    renewal, csr, now = _started()
    leaf = ca.sign(csr)
    # The intermediate left out: the leaf alone does not lead to the root.
    assert "installed root" in _rejected(renewal, pem(leaf), [ca.root], now)

    renewal, csr, now = _started()
    leaf = ca.sign(csr)
    assert stranger.intermediate is None
    broken = pem(leaf, stranger.root)  # a chain whose next link did not sign the leaf
    assert "not signed" in _rejected(renewal, broken, [stranger.root], now)


def test_an_expired_certificate_is_rejected() -> None:
    ca = TestCa()
    renewal, csr, now = _started()
    expired = ca.sign(csr, not_before=now - 10 * ONE_DAY, not_after=now - ONE_DAY)
    assert "expired" in _rejected(renewal, pem(expired), [ca.root], now)


def test_after_a_rejection_only_a_trigger_starts_again() -> None:
    ca = TestCa()
    renewal, _csr_unused, now = _started()
    _rejected(renewal, "not a certificate", [ca.root], now)
    expiring = ca.sign(_csr(CertificateRenewal(SETTINGS).trigger(now)), not_after=now + ONE_DAY)
    later = now + timedelta(days=3650)
    assert renewal.check_expiry(expiring, later) == []  # A02.FR.20
    assert renewal.tick(later) == []
    assert len(renewal.trigger(later)) == 2  # the key kept, the CSR sent


def test_an_unanswered_csr_is_sent_again_with_a_doubling_wait_then_given_up() -> None:
    settings = RenewalSettings(
        IDENTITY, ORGANIZATION, cert_signing_wait_minimum_s=60, cert_signing_repeat_times=2
    )
    renewal, first_csr, start = _started(settings)
    sent_at: list[float] = []
    now = start
    for _ in range(1000):  # one simulated second per step, far beyond the whole back-off
        now += timedelta(seconds=1)
        for output in renewal.tick(now):
            if isinstance(output, ForgetPendingKey):  # given up
                continue
            assert isinstance(output, SendSignCertificate)
            assert x509.load_pem_x509_csr(output.payload["csr"].encode()) == first_csr
            sent_at.append((now - start).total_seconds())
            renewal.sign_certificate_answered(True, now)
    # Waits of 60 s then 120 s after each accepted request (A02.FR.17/18), two repeats
    # (A02.FR.19), then nothing until the CSMS triggers it.
    assert sent_at == [60, 180]
    assert not renewal.waiting


def test_a_certificate_expiring_within_renew_days_starts_a_renewal_once() -> None:
    ca = TestCa()
    renewal = CertificateRenewal(RenewalSettings(IDENTITY, ORGANIZATION, renew_days=30))
    now = datetime.now(UTC)
    current = ca.sign(_csr(CertificateRenewal(SETTINGS).trigger(now)), not_after=now + 40 * ONE_DAY)
    assert renewal.check_expiry(current, now) == []
    in_eleven_days = now + 11 * ONE_DAY
    assert len(renewal.check_expiry(current, in_eleven_days)) == 2
    assert renewal.check_expiry(current, in_eleven_days) == []  # one request at a time
    # A CSMS that refuses is not asked again by the expiry check for a day.
    renewal.sign_certificate_answered(False, in_eleven_days)
    assert renewal.check_expiry(current, in_eleven_days + timedelta(hours=23)) == []
    assert len(renewal.check_expiry(current, in_eleven_days + timedelta(hours=25))) == 2


def test_over_2_0_1_a_certificate_valid_from_later_is_rejected_with_the_security_event() -> None:
    ca = TestCa()
    renewal, csr, now = _started()
    leaf = ca.sign(csr, not_before=now + timedelta(minutes=5), not_after=now + 30 * ONE_DAY)
    # The edition 3 errata's A02.FR.06: valid at the time of the update, or not at all.
    assert "not valid before" in _rejected(renewal, pem(leaf), [ca.root], now)
    assert renewal.tick(now + timedelta(minutes=5)) == []  # nothing held for later


def test_over_1_6_a_certificate_valid_from_later_is_used_from_then_on() -> None:
    ca = TestCa()
    renewal, csr, now = _started(
        RenewalSettings(IDENTITY, ORGANIZATION, holds_valid_from_later=True)
    )
    leaf = ca.sign(csr, not_before=now + timedelta(hours=1), not_after=now + 30 * ONE_DAY)
    response, outputs = renewal.certificate_signed({"certificateChain": pem(leaf)}, [ca.root], now)
    assert (response, outputs) == ({"status": "Accepted"}, [])
    assert renewal.tick(now + timedelta(minutes=59)) == []
    [use, forget] = renewal.tick(now + timedelta(hours=1))
    assert isinstance(use, UseNewCertificate) and isinstance(forget, ForgetPendingKey)


def test_an_unasked_certificate_or_a_v2g_one_is_rejected() -> None:
    ca = TestCa()
    renewal = CertificateRenewal(SETTINGS)
    now = datetime.now(UTC)
    assert "no certificate signing request" in _rejected(renewal, pem(ca.root), [ca.root], now)
    renewal, _unused, now = _started()
    response, _outputs = renewal.certificate_signed(
        {"certificateChain": pem(ca.root), "certificateType": "V2GCertificate"}, [ca.root], now
    )
    assert response["status"] == "Rejected"


def test_an_unanswered_request_keeps_its_key_and_is_sent_again() -> None:
    renewal = CertificateRenewal(SETTINGS)
    now = datetime.now(UTC)
    first = _csr(renewal.trigger(now))
    # The link dropped before the answer: the CSMS may well have the request.
    assert renewal.sign_certificate_answered(None, now) == []
    assert renewal.waiting
    [again] = renewal.tick(now + timedelta(seconds=60))
    assert isinstance(again, SendSignCertificate)
    assert x509.load_pem_x509_csr(again.payload["csr"].encode()) == first
