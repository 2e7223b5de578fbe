"""The LC's certificates managed over its own 1.6 link, end to end (the 1.6 security
whitepaper's M03-M05, A02): the PyPI-ocpp v16 CSMS installs and lists its root, triggers a
renewal with ExtendedTriggerMessage, signs the LC's real CSR and sends the certificate back;
one it refuses reaches that CSMS as a security event in 1.6's words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from ocpp.v16 import call as call16

from certificates.hash_data import serial_number_hex
from lc.app import LocalController
from tests.certificates.ca import TestCa, pem
from tests.peers import running, wait_until
from tests.station.csms16_for_lc import CsmsForLc16, LcAtCsms16
from tests.station.csms_for_lc import accepted_lc
from tests.station.test_station_certificates import (
    certificates_config,
    csr_after,
    presented_serial,
    presents_after_redial,
    profile_3,
)

pytestmark = pytest.mark.timeout(60)


def _config(csms: CsmsForLc16, tmp_path: Path, **router: Any) -> dict[str, Any]:
    return certificates_config(csms, tmp_path, {"ocpp_version": "1.6"}, **router)


@pytest.fixture
async def lc(csms16: CsmsForLc16, tmp_path: Path) -> AsyncIterator[LocalController]:
    async with accepted_lc(_config(csms16, tmp_path)) as (controller, _link):
        yield controller


async def _install_root(station: LcAtCsms16, cso: TestCa) -> None:
    request = call16.InstallCertificate(
        certificate_type="CentralSystemRootCertificate", certificate=pem(cso.root)
    )
    assert (await station.call(request)).status == "Accepted"


async def _csr_after_trigger(csms: CsmsForLc16) -> x509.CertificateSigningRequest:
    trigger = call16.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
    return await csr_after(csms, csms.station16, trigger)


async def test_a_1_6_csms_installs_its_root_and_renews_the_lcs_certificate(
    csms16: CsmsForLc16, lc: LocalController
) -> None:
    station = csms16.station16
    cso = TestCa("CSO Root")
    await _install_root(station, cso)
    listing = call16.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate")
    listed = await station.call(listing)
    assert listed.status == "Accepted"
    [hash_data] = listed.certificate_hash_data
    assert hash_data["serial_number"] == serial_number_hex(cso.root)
    manufacturer = call16.GetInstalledCertificateIds(certificate_type="ManufacturerRootCertificate")
    assert (await station.call(manufacturer)).status == "NotFound"

    csr = await _csr_after_trigger(csms16)
    assert csr.subject.rfc4514_string() == "O=Test CSO,CN=LC-GARAGE-1"  # CpoName, identity
    leaf = cso.sign(csr)
    signed = call16.CertificateSigned(certificate_chain=cso.chain_pem(leaf))
    assert (await station.call(signed)).status == "Accepted"
    assert lc.own_certificates is not None
    current = lc.own_certificates.current(datetime.now(UTC))
    assert current is not None and current.certificate.serial_number == leaf.serial_number

    # The only CSMS root stays: without it the LC could not verify its CSMS any more.
    deletion = call16.DeleteCertificate(certificate_hash_data=hash_data)
    assert (await station.call(deletion)).status == "Failed"
    configuration = await station.call(call16.GetConfiguration(key=["CpoName"]))
    assert configuration.configuration_key == [
        {"key": "CpoName", "readonly": False, "value": "Test CSO"}
    ]


async def test_a_certificate_the_lc_refuses_is_a_security_event_in_1_6_words(
    csms16: CsmsForLc16, lc: LocalController
) -> None:
    await _install_root(csms16.station16, TestCa("CSO Root"))
    stranger = TestCa("Someone Else's Root")
    leaf = stranger.sign(await _csr_after_trigger(csms16))
    signed = call16.CertificateSigned(certificate_chain=stranger.chain_pem(leaf))
    assert (await csms16.station16.call(signed)).status == "Rejected"
    await wait_until(
        lambda: "InvalidChargePointCertificate" in [e["type"] for e in csms16.security_events],
        10,
        "the refused certificate at the CSMS",
    )
    # The LC's own log keeps 2.0.1's name for it.
    assert "InvalidChargingStationCertificate" in [e.type for e in lc.security.events.log.events]
    assert lc.own_certificates is not None
    assert lc.own_certificates.current(datetime.now(UTC)) is None


async def test_the_lc_renews_its_expiring_certificate_at_a_1_6_csms_by_itself(
    tmp_path: Path,
) -> None:
    """A03: the configured certificate (a year's) expires within renew_days: the LC asks for
    a new one at once, untriggered, and its next link presents what the CSMS signed."""
    cso = TestCa("CSO Root")
    requiring, tls, certificate = profile_3(cso, tmp_path)
    async with running(CsmsForLc16(ssl_context=requiring)) as csms16:
        config = _config(csms16, tmp_path, upstream_tls=tls)
        config["certificates"]["renew_days"] = 400
        async with accepted_lc(config) as (_controller, link):
            configured = x509.load_pem_x509_certificate(certificate.read_bytes())
            assert presented_serial(csms16) == configured.serial_number
            await wait_until(lambda: bool(csms16.csrs), 20, "the LC's own SignCertificate")
            await _install_root(csms16.station16, cso)
            leaf = cso.sign(x509.load_pem_x509_csr(csms16.csrs[0].encode("ascii")))
            signed = call16.CertificateSigned(certificate_chain=cso.chain_pem(leaf))
            assert (await csms16.station16.call(signed)).status == "Accepted"
            await presents_after_redial(csms16, link, leaf.serial_number)
