"""Whether the LC takes an UpdateFirmware of itself, and the statuses it reports, step by step
(pure); and that the release signature scripts/release makes is the one the LC checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from firmware.release_file import sign_file
from firmware.self_update import (
    SelfUpdate,
    UpdatePlan,
    decide,
)
from firmware.signature import signature_valid
from ocpp_knowledge.ocpp_time import to_ocpp_time
from tests.router.test_tls import Pki

NOW = datetime.now(UTC)


@pytest.fixture
def manufacturer(tmp_path: Path) -> Pki:
    (tmp_path / "manufacturer").mkdir()
    return Pki(tmp_path / "manufacturer")


@pytest.fixture
def signing(manufacturer: Pki) -> str:
    """The manufacturer's firmware signing certificate, PEM."""
    certificate, _key = manufacturer.issue("Firmware Signing", "signer")
    return certificate.read_text()


def _root(pki: Pki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pki.ca.read_bytes())


def _request(certificate: str | None, **more: Any) -> dict[str, Any]:
    firmware: dict[str, Any] = {
        "location": "http://127.0.0.1/r.tar.gz",
        "retrieveDateTime": to_ocpp_time(NOW),
    }
    if certificate is not None:
        firmware |= {"signingCertificate": certificate, "signature": "c2ln"}
    for key in ("installDateTime", "retrieveDateTime"):
        if key in more:
            firmware[key] = more.pop(key)
    return {"requestId": 4, "firmware": firmware, **more}


def _plan(manufacturer: Pki, signing: str, **more: Any) -> UpdatePlan:
    decision = decide(_request(signing, **more), [_root(manufacturer)], NOW, busy=False)
    assert decision.plan is not None
    return decision.plan


def test_a_request_signed_by_the_manufacturer_is_accepted(manufacturer: Pki, signing: str) -> None:
    decision = decide(
        _request(signing, retries=3, retryInterval=7), [_root(manufacturer)], NOW, busy=False
    )
    assert (decision.status, decision.security_event) == ("Accepted", None)
    assert decision.plan is not None
    assert (decision.plan.retries, decision.plan.retry_interval_s) == (3, 7.0)


def test_a_signing_certificate_of_another_root_is_invalid_with_a_security_event(
    manufacturer: Pki, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    stranger, _key = Pki(tmp_path / "other").issue("Firmware Signing", "signer")
    decision = decide(_request(stranger.read_text()), [_root(manufacturer)], NOW, busy=False)
    assert decision.status == "InvalidCertificate" and decision.plan is None
    assert decision.security_event is not None
    assert decision.security_event[0] == "InvalidFirmwareSigningCertificate"


def test_unsigned_or_while_another_runs_is_rejected(manufacturer: Pki, signing: str) -> None:
    roots = [_root(manufacturer)]
    assert decide(_request(None), roots, NOW, busy=False).status == "Rejected"
    assert decide(_request(signing), roots, NOW, busy=True).status == "Rejected"


def _statuses(notices: list[dict[str, Any]]) -> list[str]:
    assert all(notice["requestId"] == 4 for notice in notices)
    return [notice["status"] for notice in notices]


def test_the_statuses_of_an_update_in_order_with_both_waits(
    manufacturer: Pki, signing: str
) -> None:
    later = {
        "retrieveDateTime": to_ocpp_time(NOW + timedelta(seconds=60)),
        "installDateTime": to_ocpp_time(NOW + timedelta(seconds=600)),
    }
    update = SelfUpdate(_plan(manufacturer, signing, **later))
    notices, wait = update.begin(NOW)
    assert _statuses(notices) == ["DownloadScheduled"] and wait == pytest.approx(60, abs=1)
    assert _statuses(update.downloading()) == ["Downloading"]
    notices, wait = update.downloaded(True, NOW + timedelta(seconds=61))
    assert _statuses(notices) == ["Downloaded", "SignatureVerified", "InstallScheduled"]
    assert wait == pytest.approx(539, abs=1)
    assert _statuses(update.installing()) == ["Installing"]
    assert _statuses(update.installed(True)) == ["InstallRebooting"]
    assert update.over


def test_no_wait_when_the_times_have_passed(manufacturer: Pki, signing: str) -> None:
    update = SelfUpdate(_plan(manufacturer, signing))
    assert update.begin(NOW) == ([], 0.0)
    update.downloading()
    notices, wait = update.downloaded(True, NOW)
    assert (_statuses(notices), wait) == (["Downloaded", "SignatureVerified"], 0.0)


def test_failed_attempts_are_retried_then_the_download_failed(
    manufacturer: Pki, signing: str
) -> None:
    update = SelfUpdate(_plan(manufacturer, signing, retries=1, retryInterval=5))
    update.downloading()
    assert update.attempt_failed() == ([], 5.0)
    assert update.downloading() == []  # still Downloading: not sent again
    notices, retry = update.attempt_failed()
    assert (_statuses(notices), retry, update.over) == (["DownloadFailed"], None, True)


def test_a_bad_signature_or_a_broken_release_ends_the_update(
    manufacturer: Pki, signing: str
) -> None:
    update = SelfUpdate(_plan(manufacturer, signing))
    update.downloading()
    notices, _wait = update.downloaded(False, NOW)
    assert _statuses(notices) == ["Downloaded", "InvalidSignature"] and update.over
    with pytest.raises(RuntimeError):
        update.installing()
    broken = SelfUpdate(_plan(manufacturer, signing))
    broken.downloading()
    broken.downloaded(True, NOW)
    broken.installing()
    assert _statuses(broken.installed(False)) == ["InstallVerificationFailed"] and broken.over


@pytest.mark.parametrize("rsa_key", [False, True], ids=["ecdsa", "rsa-pss"])
def test_what_the_release_script_signs_the_lc_verifies(
    manufacturer: Pki, tmp_path: Path, rsa_key: bool
) -> None:
    certificate_file, key_file = manufacturer.issue("Firmware Signing", "s", rsa_key=rsa_key)
    certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
    release = tmp_path / "release.tar.gz"
    release.write_bytes(b"a release")
    signature = sign_file(release, key)
    assert signature_valid(release, signature, certificate.public_key())
    release.write_bytes(b"a release, changed")
    assert not signature_valid(release, signature, certificate.public_key())
