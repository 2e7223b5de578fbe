"""The LC's certificates managed over its own link, end to end: the PyPI-ocpp CSMS installs
and lists its root, triggers a renewal, signs the LC's real CSR with a CA made here and sends
the certificate back."""

from __future__ import annotations

import logging
import ssl
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from ocpp.v201 import call as call201

from certificates.config import CertificateSettings
from certificates.hash_data import serial_number_hex
from certificates.own_identity import OwnCertificates
from certificates.trust_store import TrustStore
from lc.app import LocalController
from lc.station_certificates import CertificatesAtCsms
from station.link import StationLink
from station.session import LinkState
from supervision.tasks import Tasks
from tests.certificates.ca import TestCa, pem
from tests.peers import Cp16, Cp201, running, wait_until
from tests.station.csms_for_lc import CsmsForLc, accepted_lc, station_config

pytestmark = pytest.mark.timeout(60)


def presented_serial(csms: CsmsForLc) -> int:
    """The serial of the client certificate the LC presented on its latest link."""
    peer = csms.connections[-1].ws.transport.get_extra_info("peercert")
    return int(peer["serialNumber"], 16)


def certificates_config(
    csms: CsmsForLc, tmp_path: Path, station: dict[str, Any] | None = None, **router: Any
) -> dict[str, Any]:
    """An LC config with [certificates] (and `router`, `station` settings) at `csms`."""
    config = station_config(csms, tmp_path, **(station or {}))
    config["router"].update(router)
    config["certificates"] = {"folder": str(tmp_path / "certificates"), "organization": "Test CSO"}
    return config


@pytest.fixture
async def lc(csms: CsmsForLc, tmp_path: Path) -> AsyncIterator[LocalController]:
    async with accepted_lc(certificates_config(csms, tmp_path)) as (controller, _link):
        yield controller


async def _install_root(csms: CsmsForLc, cso: TestCa) -> None:
    request = call201.InstallCertificate(
        certificate_type="CSMSRootCertificate", certificate=pem(cso.root)
    )
    assert (await csms.station.call(request)).status == "Accepted"


async def _csr_after_trigger(csms: CsmsForLc) -> x509.CertificateSigningRequest:
    trigger = call201.TriggerMessage(requested_message="SignChargingStationCertificate")
    return await csr_after(csms, csms.station, trigger)


async def csr_after(
    csms: CsmsForLc, station: Cp16 | Cp201, trigger: Any
) -> x509.CertificateSigningRequest:
    """The CSR of the SignCertificate that `trigger`, Accepted over `station`, brings."""
    heard = len(csms.csrs)
    assert (await station.call(trigger)).status == "Accepted"
    await wait_until(lambda: len(csms.csrs) > heard, 20, "the LC's SignCertificate")
    return x509.load_pem_x509_csr(csms.csrs[-1].encode("ascii"))


async def test_the_csms_installs_its_root_and_renews_the_lcs_certificate(
    csms: CsmsForLc, lc: LocalController
) -> None:
    cso = TestCa("CSO Root")
    await _install_root(csms, cso)
    listing = call201.GetInstalledCertificateIds(certificate_type=["CSMSRootCertificate"])
    listed = await csms.station.call(listing)
    assert listed.status == "Accepted"
    [chain] = listed.certificate_hash_data_chain
    assert chain["certificate_type"] == "CSMSRootCertificate"
    assert chain["certificate_hash_data"]["serial_number"] == serial_number_hex(cso.root)

    leaf = cso.sign(await _csr_after_trigger(csms))
    signed = call201.CertificateSigned(
        certificate_chain=cso.chain_pem(leaf), certificate_type="ChargingStationCertificate"
    )
    assert (await csms.station.call(signed)).status == "Accepted"
    assert lc.own_certificates is not None
    current = lc.own_certificates.current(datetime.now(UTC))
    assert current is not None
    assert current.certificate.serial_number == leaf.serial_number

    # The only CSMS root stays: without it the LC could not verify its CSMS any more.
    deletion = call201.DeleteCertificate(certificate_hash_data=chain["certificate_hash_data"])
    assert (await csms.station.call(deletion)).status == "Failed"


async def test_a_certificate_from_an_unknown_ca_is_rejected_and_logged(
    csms: CsmsForLc, lc: LocalController, caplog: pytest.LogCaptureFixture
) -> None:
    await _install_root(csms, TestCa("CSO Root"))
    stranger = TestCa("Someone Else's Root")
    leaf = stranger.sign(await _csr_after_trigger(csms))
    signed = call201.CertificateSigned(certificate_chain=stranger.chain_pem(leaf))
    with caplog.at_level(logging.WARNING):
        assert (await csms.station.call(signed)).status == "Rejected"
    assert "security event InvalidChargingStationCertificate" in caplog.text
    assert lc.own_certificates is not None
    assert lc.own_certificates.current(datetime.now(UTC)) is None


async def test_a_certificate_not_valid_yet_is_rejected_and_reported_to_the_csms(
    csms: CsmsForLc, lc: LocalController
) -> None:
    """The edition 3 errata's A02.FR.06: valid at the time of the update, else Rejected, with
    the security event of an invalid certificate (A02.FR.07), and nothing kept for later."""
    cso = TestCa("CSO Root")
    await _install_root(csms, cso)
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    leaf = cso.sign(await _csr_after_trigger(csms), not_before=in_an_hour)
    signed = call201.CertificateSigned(certificate_chain=cso.chain_pem(leaf))
    answer = await csms.station.call(signed)
    assert answer.status == "Rejected"
    assert answer.status_info["reason_code"] == "InvalidCertificate"
    await wait_until(
        lambda: "InvalidChargingStationCertificate" in [e["type"] for e in csms.security_events],
        10,
        "the security event at the CSMS",
    )
    assert lc.own_certificates is not None
    assert lc.own_certificates.current(in_an_hour) is None
    assert lc.own_certificates.pending() is None


def profile_3(cso: TestCa, folder: Path) -> tuple[ssl.SSLContext, dict[str, str], Path]:
    """A CSMS's TLS context that requires a client certificate from `cso` (security profile
    3), the LC's [router.upstream_tls] towards it and the certificate that configures."""
    requiring = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    requiring.load_cert_chain(*cso.issue_server(folder))
    requiring.verify_mode = ssl.CERT_REQUIRED
    requiring.load_verify_locations(cadata=pem(cso.root))
    (folder / "configured").mkdir()
    certificate, key = cso.issue_server(folder / "configured")
    ca = folder / "csms-ca.pem"
    ca.write_text(pem(cso.root))
    tls = {"ca": str(ca), "certificate": str(certificate), "private_key": str(key)}
    return requiring, tls, certificate


async def presents_after_redial(csms: CsmsForLc, link: StationLink, serial: int) -> None:
    """The LC's next link to `csms` (stopped and started here) presents certificate `serial`."""
    connections = len(csms.connections)
    await csms.stop()  # the link drops; the LC dials again
    await wait_until(lambda: link.session.state is LinkState.DISCONNECTED, 10, "lost")
    await csms.start()
    await wait_until(lambda: len(csms.connections) > connections, 20, "the LC dialling again")
    await wait_until(lambda: link.session.state is LinkState.ACCEPTED, 10, "Accepted")
    assert presented_serial(csms) == serial


async def test_the_next_link_to_the_csms_presents_the_certificate_it_signed(
    tmp_path: Path,
) -> None:
    cso = TestCa("CSO Root")
    requiring, tls, certificate = profile_3(cso, tmp_path)
    async with (
        running(CsmsForLc(ssl_context=requiring)) as csms,
        accepted_lc(certificates_config(csms, tmp_path, upstream_tls=tls)) as (_controller, link),
    ):
        configured = x509.load_pem_x509_certificate(certificate.read_bytes())
        assert presented_serial(csms) == configured.serial_number
        await _install_root(csms, cso)
        leaf = cso.sign(await _csr_after_trigger(csms))
        signed = call201.CertificateSigned(certificate_chain=cso.chain_pem(leaf))
        assert (await csms.station.call(signed)).status == "Accepted"
        await presents_after_redial(csms, link, leaf.serial_number)


async def test_a_certificate_signed_after_an_lc_restart_is_accepted(
    csms: CsmsForLc, tmp_path: Path
) -> None:
    cso = TestCa("CSO Root")
    config = certificates_config(csms, tmp_path)
    async with accepted_lc(config):
        await _install_root(csms, cso)
        csr = await _csr_after_trigger(csms)
    # The key of the request waits on disk for its certificate, for the LC's user only.
    [kept] = (tmp_path / "certificates" / "station").glob("pending*")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    async with accepted_lc(config) as (restarted, _link):
        leaf = cso.sign(csr)
        signed = call201.CertificateSigned(certificate_chain=cso.chain_pem(leaf))
        assert (await csms.station.call(signed)).status == "Accepted"
        assert restarted.own_certificates is not None
        current = restarted.own_certificates.current(datetime.now(UTC))
        assert current is not None and current.certificate == leaf
    assert not kept.exists()


async def test_a_rejected_certificate_is_recorded_as_a_security_event(
    csms: CsmsForLc, tmp_path: Path
) -> None:
    """Through the `RecordSecurityEvent` the certificates are given (the LC's security log)."""
    recorded: list[tuple[str, str]] = []
    managed = CertificateSettings(tmp_path / "certificates", "Test CSO")
    tasks = Tasks("test")
    async with accepted_lc(station_config(csms, tmp_path)) as (_controller, link):
        try:
            CertificatesAtCsms(
                link,
                managed,
                TrustStore(managed.trust_folder),
                OwnCertificates(managed.own_folder),
                lambda _renewed: None,
                tasks,
                lambda kind, info: recorded.append((kind, info)),
            ).wire()
            await _install_root(csms, TestCa("CSO Root"))
            stranger = TestCa("Someone Else's Root")
            leaf = stranger.sign(await _csr_after_trigger(csms))
            signed = call201.CertificateSigned(certificate_chain=stranger.chain_pem(leaf))
            assert (await csms.station.call(signed)).status == "Rejected"
        finally:
            await tasks.stop()
    [(kind, info)] = recorded
    assert kind == "InvalidChargingStationCertificate" and "root" in info
