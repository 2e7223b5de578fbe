"""A NetworkConfigurationPriority that raises the LC's own 2.0.1 link to a higher security
profile needs what that profile presents (A05.FR.02/03): without it the priority is Rejected,
kept as it was, and the LC stays where it is. PyPI-`ocpp` CSMSs on 127.0.0.1, over TLS with
CAs made here."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.v201 import call as call201

from station.link import StationLink
from station.session import LinkState
from tests.certificates.ca import TestCa, name, pem
from tests.peers import running, wait_until
from tests.station.csms_for_lc import CsmsForLc, accepted_lc, station_config
from tests.station.test_csms_root_at_runtime import _serving
from tests.station.test_network_profiles import _connection_data, _get_comm, _set_comm, _set_profile
from tests.station.test_station_certificates import certificates_config

pytestmark = pytest.mark.timeout(60)

PASSWORD = "a-password-of-24-chars!!"
PRIORITY = "NetworkConfigurationPriority"


def _accepted_at(csms: CsmsForLc, link: StationLink) -> bool:
    return bool(csms.connections) and link.session.state is LinkState.ACCEPTED


async def _rejected_and_stays(
    csms: CsmsForLc, link: StationLink, elsewhere: CsmsForLc, priority: str
) -> None:
    """`priority` is Rejected, the one before still in force, and the LC did not move."""
    connections = len(csms.connections)
    assert await _set_comm(csms, PRIORITY, priority) == "Rejected"
    # The answer to a later call went over the same connection: no reconnect after the first.
    assert await _get_comm(csms, PRIORITY) == "1"
    assert len(csms.connections) == connections
    assert link.session.state is LinkState.ACCEPTED
    assert not elsewhere.connections


async def test_a_raise_to_profile_2_needs_a_csms_root(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cso = TestCa("CSO Root")
    async with (
        running(CsmsForLc()) as plain,  # ws://: security profile 1
        running(CsmsForLc(ssl_context=_serving(cso, tmp_path / "secure"))) as secure,
    ):
        config = certificates_config(plain, tmp_path, {"password": PASSWORD})
        async with accepted_lc(config) as (_lc, link):
            over_tls = _connection_data(f"wss://127.0.0.1:{secure.port}/ocpp", security_profile=2)
            assert (await _set_profile(plain, 2, over_tls)).status == "Accepted"
            assert await _set_comm(plain, "NetworkProfileConnectionAttempts", "1") == "Accepted"
            with caplog.at_level(logging.WARNING):
                await _rejected_and_stays(plain, link, secure, "2,1")
            assert "slot 2: security profile 2 needs a valid CSMS root certificate" in caplog.text
            assert link.network.active.security_profile == 1

            install = call201.InstallCertificate(
                certificate_type="CSMSRootCertificate", certificate=pem(cso.root)
            )
            assert (await plain.station.call(install)).status == "Accepted"
            assert await _set_comm(plain, PRIORITY, "2,1") == "Accepted"
            await wait_until(lambda: _accepted_at(secure, link), 20, "at the CSMS over TLS")
            assert await _get_comm(secure, PRIORITY) == "2"


def _expired_client_certificate(cso: TestCa, folder: Path) -> tuple[Path, Path]:
    """A client certificate of the LC's that expired yesterday, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("LC-GARAGE-1"))
    now = datetime.now(UTC)
    leaf = cso.sign(
        csr.sign(key, hashes.SHA256()),
        not_before=now - timedelta(days=30),
        not_after=now - timedelta(days=1),
    )
    certificate, private_key = folder / "client.pem", folder / "client.key"
    certificate.write_text(pem(leaf))
    private_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private_key.chmod(0o600)
    return certificate, private_key


async def test_a_raise_to_profile_3_needs_a_valid_client_certificate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cso = TestCa("CSO Root")
    ca = tmp_path / "csms-ca.pem"
    ca.write_text(pem(cso.root))
    certificate, private_key = _expired_client_certificate(cso, tmp_path)
    async with (
        running(CsmsForLc(ssl_context=_serving(cso, tmp_path / "first"))) as first,
        running(CsmsForLc(ssl_context=_serving(cso, tmp_path / "second"))) as second,
    ):
        config = station_config(first, tmp_path, password=PASSWORD)  # wss:// with it: profile 2
        tls = {"ca": str(ca), "certificate": str(certificate), "private_key": str(private_key)}
        config["router"]["upstream_tls"] = tls
        async with accepted_lc(config) as (_lc, link):
            assert link.network.active.security_profile == 2
            profile_3 = _connection_data(f"wss://127.0.0.1:{second.port}/ocpp", security_profile=3)
            assert (await _set_profile(first, 2, profile_3)).status == "Accepted"
            with caplog.at_level(logging.WARNING):
                await _rejected_and_stays(first, link, second, "2,1")
            assert "slot 2: security profile 3 needs a valid client certificate" in caplog.text
