"""The certificates behind the LC's own OCPP connection, driven as that connection will: its
handler table, a trigger, the CSMS's answers; the connection itself is the seam (recorded)."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from certificates.config import CertificateSettings
from certificates.handlers import InvalidPayload, checked_payload
from certificates.hash_data import certificate_hash_data
from certificates.keys import KeyType, build_csr, generate_key
from certificates.own_identity import OwnCertificate
from certificates.station_certificates import StationCertificates
from tests.certificates.ca import ONE_DAY, TestCa, pem

IDENTITY = "LC-0001"


@dataclass
class Channel:
    """What the LC's OCPP connection was asked to do."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    switched_to: list[OwnCertificate] = field(default_factory=list)

    def station(
        self, folder: Path, clock: list[datetime], configured: Path | None = None
    ) -> StationCertificates:
        settings = CertificateSettings(folder, "Test CSO", cert_signing_wait_minimum_s=60)
        return StationCertificates(
            settings,
            IDENTITY,
            lambda action, payload: self.calls.append((action, payload)),
            lambda kind, info: self.events.append((kind, info)),
            self.switched_to.append,
            clock=lambda: clock[0],
            configured_certificate=lambda: configured,
        )

    def last_csr(self) -> x509.CertificateSigningRequest:
        action, payload = self.calls[-1]
        assert action == "SignCertificate"
        checked_payload("SignCertificate", True, payload)  # what the CSMS will check
        return x509.load_pem_x509_csr(payload["csr"].encode("ascii"))


def _installed(station: StationCertificates, ca: TestCa, certificate_type: str) -> None:
    table = station.table()
    answer = table["InstallCertificate"](
        {"certificateType": certificate_type, "certificate": pem(ca.root)}
    )
    assert answer == {"status": "Accepted"}


@pytest.mark.parametrize("root_type", ["CSMSRootCertificate", "V2GRootCertificate"])
def test_a_triggered_renewal_stores_and_switches_to_the_signed_certificate(
    tmp_path: Path, root_type: str
) -> None:
    channel, clock, cso = Channel(), [datetime.now(UTC)], TestCa(intermediate=True)
    station = channel.station(tmp_path / "certificates", clock)
    _installed(station, cso, root_type)
    station.trigger()
    station.sign_certificate_answered({"status": "Accepted"})
    leaf = cso.sign(channel.last_csr())

    response = station.table()["CertificateSigned"]({"certificateChain": cso.chain_pem(leaf)})
    assert response == {"status": "Accepted"}
    [switched] = channel.switched_to
    assert switched.certificate == leaf
    assert stat.S_IMODE(switched.key_path.stat().st_mode) == 0o600
    assert channel.events == []
    # M04.FR.06: the LC's own certificate cannot be deleted by its hash data.
    own = switched.hash_data("SHA256", [cso.root])
    answer = station.table()["DeleteCertificate"]({"certificateHashData": own})
    assert answer == {"status": "Failed"}


def test_a_bad_certificate_is_a_security_event_and_a_bad_request_a_callerror(
    tmp_path: Path,
) -> None:
    channel, clock, cso = Channel(), [datetime.now(UTC)], TestCa()
    station = channel.station(tmp_path / "certificates", clock)
    _installed(station, cso, "CSMSRootCertificate")
    station.trigger()
    stranger = TestCa("Somebody else").sign(channel.last_csr())
    response = station.certificate_signed({"certificateChain": pem(stranger)})
    assert response["status"] == "Rejected"
    assert [kind for kind, _info in channel.events] == ["InvalidChargingStationCertificate"]
    assert channel.switched_to == []
    with pytest.raises(InvalidPayload):
        station.certificate_signed({"certificateType": "ChargingStationCertificate"})


def test_ticks_resend_an_unanswered_request_and_renew_before_expiry(tmp_path: Path) -> None:
    channel, clock, cso = Channel(), [datetime.now(UTC)], TestCa()
    station = channel.station(tmp_path / "certificates", clock)
    _installed(station, cso, "CSMSRootCertificate")
    station.trigger()
    station.sign_certificate_answered({"status": "Accepted"})
    first_csr = channel.last_csr()
    clock[0] += timedelta(seconds=61)
    station.tick()
    assert len(channel.calls) == 2 and channel.last_csr() == first_csr  # A02.FR.17

    # A certificate that expires in 40 days: renewed 30 days before (10 days from now).
    leaf = cso.sign(first_csr, not_after=clock[0] + 40 * ONE_DAY)
    station.certificate_signed({"certificateChain": pem(leaf)})
    assert len(channel.switched_to) == 1
    # Sent without its CA: the hash data names the installed root as its issuer.
    own = certificate_hash_data(leaf, cso.root)
    assert station.table()["DeleteCertificate"]({"certificateHashData": own}) == {
        "status": "Failed"
    }
    calls_before = len(channel.calls)
    clock[0] += 9 * ONE_DAY
    station.tick()
    assert len(channel.calls) == calls_before
    clock[0] += 2 * ONE_DAY
    station.tick()
    assert len(channel.calls) == calls_before + 1
    assert channel.last_csr().public_key() != leaf.public_key()  # a new key pair


def test_the_configured_certificate_is_renewed_before_it_expires(tmp_path: Path) -> None:
    """No renewed certificate yet: the one [router.upstream_tls] names is the one in use."""
    channel, clock, cso = Channel(), [datetime.now(UTC)], TestCa()
    key = generate_key(KeyType.ECDSA_P256)
    configured = cso.sign(build_csr(key, IDENTITY, "Test CSO"), not_after=clock[0] + 40 * ONE_DAY)
    path = tmp_path / "configured.pem"
    path.write_text(pem(configured))
    station = channel.station(tmp_path / "certificates", clock, configured=path)
    station.tick()
    assert channel.calls == []
    clock[0] += 11 * ONE_DAY  # within the 30 days before its expiry (A03.FR.02)
    station.tick()
    assert channel.last_csr().public_key() != configured.public_key()


def test_a_certificate_signed_after_a_restart_is_accepted_for_the_kept_key(
    tmp_path: Path,
) -> None:
    channel, clock, cso = Channel(), [datetime.now(UTC)], TestCa()
    folder = tmp_path / "certificates"
    station = channel.station(folder, clock)
    _installed(station, cso, "CSMSRootCertificate")
    station.trigger()
    station.sign_certificate_answered({"status": "Accepted"})
    csr = channel.last_csr()
    [kept] = (folder / "station").glob("pending*")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    restarted = Channel()
    station = restarted.station(folder, clock)
    response = station.certificate_signed({"certificateChain": pem(cso.sign(csr))})
    assert response == {"status": "Accepted"}
    assert len(restarted.switched_to) == 1 and restarted.events == []
    assert not kept.exists()  # the key now lives beside its certificate

    # Not answered after the restart either: the same key's request goes out again.
    before = Channel()
    before.station(folder, clock).trigger()
    again = Channel()
    station = again.station(folder, clock)
    clock[0] += timedelta(seconds=61)
    station.tick()
    assert len(again.calls) == 1
    assert again.last_csr().public_key() == before.last_csr().public_key()
