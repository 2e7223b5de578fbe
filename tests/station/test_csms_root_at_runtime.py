"""A CSMS root installed over the LC's own link is trusted by its next dial at once, and one
deleted no longer is, without a restart: PyPI-`ocpp` CSMSs (2.0.1 and 1.6) on 127.0.0.1 over
TLS, with CAs of their own made here."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from certificates.hash_data import serial_number_hex
from lc.app import LocalController
from station.link import StationLink
from station.session import LinkState
from tests.certificates.ca import TestCa, pem
from tests.peers import running, wait_until
from tests.station.csms16_for_lc import CsmsForLc16
from tests.station.csms_for_lc import CsmsForLc, accepted_lc
from tests.station.test_network_profiles import _connection_data, _set_comm, _set_profile
from tests.station.test_station_certificates import certificates_config

pytestmark = pytest.mark.timeout(60)

PASSWORD = "a-password-of-24-chars!!"
PRIORITY = "NetworkConfigurationPriority"


def _serving(cso: TestCa, folder: Path) -> ssl.SSLContext:
    folder.mkdir()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cso.issue_server(folder))
    return context


async def _install_root(csms: CsmsForLc, cso: TestCa) -> None:
    request = call201.InstallCertificate(
        certificate_type="CSMSRootCertificate", certificate=pem(cso.root)
    )
    assert (await csms.station.call(request)).status == "Accepted"


async def _hash_data(csms: CsmsForLc, cso: TestCa) -> dict[str, Any]:
    listing = call201.GetInstalledCertificateIds(certificate_type=["CSMSRootCertificate"])
    chains = (await csms.station.call(listing)).certificate_hash_data_chain
    return next(
        chain["certificate_hash_data"]
        for chain in chains
        if chain["certificate_hash_data"]["serial_number"] == serial_number_hex(cso.root)
    )


def _accepted_at(csms: CsmsForLc, link: StationLink, connections: int) -> bool:
    return len(csms.connections) > connections and link.session.state is LinkState.ACCEPTED


def _invalid_csms_certificate(lc: LocalController) -> bool:
    return "InvalidCsmsCertificate" in [event.type for event in lc.security.events.log.events]


async def test_a_root_installed_is_trusted_at_once_and_a_deleted_one_no_longer(
    tmp_path: Path,
) -> None:
    first_cso, second_cso = TestCa("First CSO Root"), TestCa("Second CSO Root")
    ca = tmp_path / "first-ca.pem"
    ca.write_text(pem(first_cso.root))
    async with (
        running(CsmsForLc(ssl_context=_serving(first_cso, tmp_path / "first"))) as first,
        running(CsmsForLc(ssl_context=_serving(second_cso, tmp_path / "second"))) as second,
    ):
        config = certificates_config(
            first, tmp_path, {"password": PASSWORD}, upstream_tls={"ca": str(ca)}
        )
        async with accepted_lc(config) as (lc, link):
            await _install_root(first, first_cso)
            await _install_root(first, second_cso)  # the second CSMS's, a CA of its own
            profile = _connection_data(f"wss://127.0.0.1:{second.port}/ocpp", security_profile=2)
            assert (await _set_profile(first, 2, profile)).status == "Accepted"
            assert await _set_comm(first, "NetworkProfileConnectionAttempts", "1") == "Accepted"
            assert await _set_comm(first, PRIORITY, "2,1") == "Accepted"
            await wait_until(lambda: _accepted_at(second, link, 0), 20, "at the second CSMS")
            assert not _invalid_csms_certificate(lc)

            deletion = call201.DeleteCertificate(
                certificate_hash_data=await _hash_data(second, second_cso)
            )
            assert (await second.station.call(deletion)).status == "Accepted"
            at_first, at_second = len(first.connections), len(second.connections)
            # The LC dials slot 2 first again.
            assert await _set_comm(second, PRIORITY, "2,1") == "Accepted"
            # Its certificate no longer verifies: after the one attempt, back to the first.
            await wait_until(lambda: _accepted_at(first, link, at_first), 20, "back at the first")
            assert len(second.connections) == at_second
            assert _invalid_csms_certificate(lc)


async def test_a_1_6_csms_moving_to_a_new_ca_is_trusted_once_its_root_is_installed(
    tmp_path: Path,
) -> None:
    """The 1.6 whitepaper's InstallCertificate CentralSystemRootCertificate: the CSMS installs
    the root of its new CA, then serves a certificate from it; the LC's next dial takes it."""
    old_cso, new_cso = TestCa("Old CSO Root"), TestCa("New CSO Root")
    ca = tmp_path / "old-ca.pem"
    ca.write_text(pem(old_cso.root))
    async with running(CsmsForLc16(ssl_context=_serving(old_cso, tmp_path / "old"))) as csms:
        station = {"ocpp_version": "1.6", "password": PASSWORD}
        config = certificates_config(csms, tmp_path, station, upstream_tls={"ca": str(ca)})
        async with accepted_lc(config) as (_lc, link):
            request = call16.InstallCertificate(
                certificate_type="CentralSystemRootCertificate", certificate=pem(new_cso.root)
            )
            assert (await csms.station16.call(request)).status == "Accepted"
            await csms.stop()
            await wait_until(lambda: link.session.state is LinkState.DISCONNECTED, 10, "lost")
            csms.ssl_context = _serving(new_cso, tmp_path / "new")  # the same address
            connections = len(csms.connections)
            await csms.start()
            await wait_until(
                lambda: _accepted_at(csms, link, connections), 20, "at the CSMS's new certificate"
            )
