"""SecurityCtrlr's settings on the LC's own link: the PyPI-ocpp CSMS reads them, changes the
organization name its next certificate request carries and the request's resend timers, and
the changes are in the security log and survive a restart."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from ocpp.v201 import call as call201

from station.session import LinkState
from tests.certificates.ca import TestCa, pem
from tests.peers import running, wait_until
from tests.station.csms_for_lc import CsmsForLc, accepted_lc, station_config

pytestmark = pytest.mark.timeout(60)


def _config(csms: CsmsForLc, tmp_path: Path) -> dict[str, Any]:
    config = station_config(csms, tmp_path)
    config["certificates"] = {"folder": str(tmp_path / "certificates"), "organization": "Test CSO"}
    return config


def _item(variable: str, **value: str) -> dict[str, Any]:
    return {"component": {"name": "SecurityCtrlr"}, "variable": {"name": variable}, **value}


async def _read(csms: CsmsForLc, *variables: str) -> list[str | None]:
    got = await csms.station.call(
        call201.GetVariables(get_variable_data=[_item(v) for v in variables])
    )
    return [result.get("attribute_value") for result in got.get_variable_result]


async def _set(csms: CsmsForLc, **values: str) -> list[str]:
    items = [_item(variable, attribute_value=value) for variable, value in values.items()]
    answer = await csms.station.call(call201.SetVariables(set_variable_data=items))
    return [result["attribute_status"] for result in answer.set_variable_result]


async def test_the_csms_reads_and_changes_the_security_settings_and_they_stay(
    csms: CsmsForLc, tmp_path: Path
) -> None:
    async with accepted_lc(_config(csms, tmp_path)) as (lc, _link):
        names = ("OrganizationName", "SecurityProfile", "CertificateEntries")
        assert await _read(csms, *names) == ["Test CSO", "1", "0"]
        assert await _read(
            csms,
            "CertSigningWaitMinimum",
            "CertSigningRepeatTimes",
            "MaxCertificateChainSize",
            "AdditionalRootCertificateCheck",
        ) == ["60", "3", "10000", "false"]
        statuses = await _set(
            csms,
            OrganizationName="New CSO",
            CertSigningRepeatTimes="5",
            CertSigningWaitMinimum="0",  # below 1 s
            SecurityProfile="3",  # only SetNetworkProfile changes it
        )
        assert statuses == ["Accepted", "Accepted", "Rejected", "Rejected"]
        cso = TestCa("CSO Root")
        install = call201.InstallCertificate(
            certificate_type="CSMSRootCertificate", certificate=pem(cso.root)
        )
        assert (await csms.station.call(install)).status == "Accepted"
        assert await _read(csms, "CertificateEntries") == ["1"]
        # The next certificate request carries the new organization name.
        trigger = call201.TriggerMessage(requested_message="SignChargingStationCertificate")
        assert (await csms.station.call(trigger)).status == "Accepted"
        await wait_until(lambda: len(csms.csrs) == 1, 20, "the LC's SignCertificate")
        csr = x509.load_pem_x509_csr(csms.csrs[0].encode("ascii"))
        [organization] = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        assert organization.value == "New CSO"
        # A02.FR.16: a chain longer than MaxCertificateChainSize is refused; the request
        # stays pending, and the same chain fits once the limit is raised again.
        chain = cso.chain_pem(cso.sign(csr))
        assert await _set(csms, MaxCertificateChainSize="0") == ["Rejected"]
        assert await _set(csms, MaxCertificateChainSize="10001") == ["Rejected"]
        assert await _set(csms, MaxCertificateChainSize="100") == ["Accepted"]
        signed = call201.CertificateSigned(certificate_chain=chain)
        assert (await csms.station.call(signed)).status == "Rejected"
        assert await _set(csms, MaxCertificateChainSize="10000") == ["Accepted"]
        assert (await csms.station.call(signed)).status == "Accepted"
        changes = [
            e.tech_info
            for e in lc.security.events.log.events
            if e.type == "ReconfigurationOfSecurityParameters"
        ]
        assert len(changes) == 6 and "OrganizationName" in changes[0]
        assert "InstallCertificate: CSMSRootCertificate" in changes
        assert lc.certificate_settings is not None
        assert lc.certificate_settings.current.cert_signing_repeat_times == 5
    async with accepted_lc(_config(csms, tmp_path)) as (_lc, _link):
        assert await _read(csms, "OrganizationName", "CertSigningRepeatTimes") == ["New CSO", "5"]


async def test_moving_to_a_network_profile_of_another_security_profile_is_logged(
    csms: CsmsForLc, tmp_path: Path
) -> None:
    """SecurityProfile changes through SetNetworkProfile only: from 1 (ws:// with a password)
    to 2 (wss:// with the password) once the CSMS puts the new slot first."""
    cso = TestCa("CSO Root")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*cso.issue_server(tmp_path))
    (tmp_path / "csms-ca.pem").write_text(pem(cso.root))
    async with running(CsmsForLc(ssl_context=tls)) as tls_csms:
        config = station_config(csms, tmp_path, password="a-password-of-20-chars")
        # The TLS settings of the LC's links towards a wss:// CSMS (profile 2: no certificate).
        config["router"]["upstream_url"] = f"wss://127.0.0.1:{tls_csms.port}"
        config["router"]["upstream_tls"] = {"ca": str(tmp_path / "csms-ca.pem")}
        async with accepted_lc(config) as (lc, link):
            assert await _read(csms, "SecurityProfile") == ["1"]
            data = {
                "ocpp_version": "OCPP20",
                "ocpp_transport": "JSON",
                "ocpp_csms_url": f"wss://127.0.0.1:{tls_csms.port}/ocpp",
                "message_timeout": 30,
                "security_profile": 2,
                "ocpp_interface": "Wired0",
            }
            profile = call201.SetNetworkProfile(configuration_slot=2, connection_data=data)
            assert (await csms.station.call(profile)).status == "Accepted"
            priority = {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "NetworkConfigurationPriority"},
                "attribute_value": "2,1",
            }
            await csms.station.call(call201.SetVariables(set_variable_data=[priority]))
            await wait_until(
                lambda: tls_csms.stations and link.session.state is LinkState.ACCEPTED,
                20,
                "Accepted over TLS",
            )
            assert await _read(tls_csms, "SecurityProfile") == ["2"]
            changes = [
                e.tech_info
                for e in lc.security.events.log.events
                if e.type == "ReconfigurationOfSecurityParameters"
            ]
            assert changes == ["security profile 1 -> 2 (network profile slot 2)"]
