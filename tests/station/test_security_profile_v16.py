"""A 1.6 CSMS (PyPI `ocpp` v16) raises the security profile of the LC's own link with
ChangeConfiguration SecurityProfile (the 1.6 security whitepaper's A05), over real sockets:
never lower, only with what the new profile needs, then the LC reconnects with it and keeps it
across a restart; a raise it cannot connect with is given up for the profile before."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from ocpp.v16 import call as call16

from lc.app import LocalController
from station.link import StationLink
from station.session import LinkState
from tests.certificates.ca import TestCa, pem
from tests.peers import running, wait_until
from tests.station.csms16_for_lc import CsmsForLc16, LcAtCsms16, change_configuration
from tests.station.csms_for_lc import accepted_lc
from tests.station.test_station_certificates import certificates_config, profile_3

pytestmark = pytest.mark.timeout(90)

PASSWORD = "a-password-of-24-chars!!"


async def _security_profile(station: LcAtCsms16) -> str:
    got = await station.call(call16.GetConfiguration(key=["SecurityProfile"]))
    [entry] = got.configuration_key
    assert entry["readonly"] is False
    return str(entry["value"])


def _authorization(csms: CsmsForLc16) -> str | None:
    """The Authorization header of the LC's latest opening handshake."""
    request = csms.connections[-1].ws.request
    assert request is not None
    return request.headers.get("Authorization")


def _over_tls(csms: CsmsForLc16) -> bool:
    return csms.connections[-1].ws.transport.get_extra_info("ssl_object") is not None


async def _install_root(station: LcAtCsms16, cso: TestCa) -> None:
    request = call16.InstallCertificate(
        certificate_type="CentralSystemRootCertificate", certificate=pem(cso.root)
    )
    assert (await station.call(request)).status == "Accepted"


async def _reconnected(csms: CsmsForLc16, link: StationLink, connections: int) -> None:
    await wait_until(
        lambda: len(csms.connections) > connections and link.session.state is LinkState.ACCEPTED,
        30,
        "the LC connected again",
    )


def _profile_changes(lc: LocalController) -> list[str]:
    return [
        e.tech_info
        for e in lc.security.events.log.events
        if e.type == "ReconfigurationOfSecurityParameters" and "security profile" in e.tech_info
    ]


async def test_a_raise_to_3_over_the_configured_csms_root_drops_the_password(
    tmp_path: Path,
) -> None:
    """The CA the site manager configured towards the CSMS is a CSMS root valid now (A05.FR.03);
    a raise without any is in the next test."""
    cso = TestCa("CSO Root")
    requiring, tls, _certificate = profile_3(cso, tmp_path)
    async with running(CsmsForLc16(ssl_context=requiring)) as csms:
        station = {"ocpp_version": "1.6", "password": PASSWORD}
        config = certificates_config(csms, tmp_path, station, upstream_tls=tls)
        async with accepted_lc(config) as (lc, link):
            assert _authorization(csms) is not None  # profile 2: Basic auth over TLS
            assert await _security_profile(csms.station16) == "2"
            rejected = [("SecurityProfile", value, "Rejected") for value in ("1", "2", "4", "x")]
            await change_configuration(csms.station16, rejected)  # not above 2 (A05.FR.01)
            assert len(csms.connections) == 1  # nothing of it moved the link
            connections = len(csms.connections)
            await change_configuration(csms.station16, [("SecurityProfile", "3", "Accepted")])
            await _reconnected(csms, link, connections)
            assert _authorization(csms) is None  # profile 3: the client certificate alone
            assert await _security_profile(csms.station16) == "3"
            assert _profile_changes(lc) == ["security profile 2 -> 3 (network profile slot 1)"]
        async with accepted_lc(config):
            assert _authorization(csms) is None  # kept across the restart
            assert await _security_profile(csms.station16) == "3"
            await change_configuration(csms.station16, [("SecurityProfile", "2", "Rejected")])


async def test_a_raise_to_2_dials_the_address_over_tls_or_falls_back_when_it_cannot(
    tmp_path: Path,
) -> None:
    cso = TestCa("CSO Root")
    serving_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving_tls.load_cert_chain(*cso.issue_server(tmp_path))
    async with running(CsmsForLc16()) as csms:  # ws://: security profile 1
        station = {"ocpp_version": "1.6", "password": PASSWORD}
        # No [router.upstream_tls]: the root the CSMS installs is what the LC trusts.
        config = certificates_config(csms, tmp_path, station)
        async with accepted_lc(config) as (lc, link):
            assert await _security_profile(csms.station16) == "1"
            attempts = "OCPPCommCtrlr.NetworkProfileConnectionAttempts"
            await change_configuration(
                csms.station16,
                [(attempts, "2", "Accepted"), ("SecurityProfile", "2", "Rejected")],  # no root
            )
            await _install_root(csms.station16, cso)
            connections = len(csms.connections)
            await change_configuration(
                csms.station16,
                # 3 without a client certificate (A05.FR.04)
                [("SecurityProfile", "3", "Rejected"), ("SecurityProfile", "2", "Accepted")],
            )
            # This CSMS serves no TLS: after 2 dials the LC is back on profile 1 (A05.FR.08).
            await _reconnected(csms, link, connections)
            assert not _over_tls(csms)
            assert await _security_profile(csms.station16) == "1"
            assert _profile_changes(lc) == []

            await change_configuration(
                csms.station16,
                [(attempts, "100", "Accepted"), ("SecurityProfile", "2", "Accepted")],
            )
            await wait_until(lambda: link.session.state is LinkState.DISCONNECTED, 10, "closed")
            await csms.stop()
            csms.ssl_context = serving_tls  # the same address, now with TLS
            connections = len(csms.connections)
            await csms.start()
            await _reconnected(csms, link, connections)
            assert _over_tls(csms) and _authorization(csms) is not None
            assert await _security_profile(csms.station16) == "2"
            assert _profile_changes(lc) == ["security profile 1 -> 2 (network profile slot 1)"]
