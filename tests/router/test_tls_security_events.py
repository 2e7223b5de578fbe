"""TLS handshakes of chargers that fail for a certificate, a TLS version or a cipher suite
become security events of the LC, and so do a CSMS's refusal of a charger's credentials and a
CSMS certificate that does not verify; a handshake that just ends is none."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from router import events as ev
from router.tls import UpstreamTlsSettings, upstream_context
from tests.conftest import ObservedRouter, RouterFactory
from tests.peers import Csms, connect_charge_point, wait_until
from tests.router.test_tls import Pki

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def _security_events(router: ObservedRouter) -> list[tuple[str, str, str]]:
    return [
        (event.identity, event.type, event.tech_info)
        for event in router.observed
        if isinstance(event, ev.SecurityEventRaised)
    ]


async def _handshake_fails(port: int, context: ssl.SSLContext) -> None:
    """Try a TLS handshake and a read (under TLS 1.3 a refused client certificate shows only
    then); the LC ends it."""
    with pytest.raises(OSError):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context), timeout=5
        )
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: lc\r\n\r\n")
            if not await asyncio.wait_for(reader.read(1), timeout=5):
                raise ConnectionResetError("closed")
        finally:
            writer.close()


async def _one_event(router: ObservedRouter) -> tuple[str, str, str]:
    await wait_until(lambda: _security_events(router), 5, "a security event")
    [event] = _security_events(router)
    return event


async def test_a_charger_certificate_another_ca_issued_is_an_event(
    pki: Pki, csms: Csms, make_router: RouterFactory, tmp_path: Path
) -> None:
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side(profile_3=True))
    assert router.port is not None
    (tmp_path / "other").mkdir()
    other = Pki(tmp_path / "other")
    await _handshake_fails(router.port, pki.client_context(other.issue("CP-1", "cp-1")))
    identity, kind, info = await _one_event(router)
    assert (identity, kind) == ("", "InvalidChargingStationCertificate")
    assert "unable to get local issuer certificate" in info


async def test_no_charger_certificate_under_profile_3_is_an_event(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side(profile_3=True))
    assert router.port is not None
    await _handshake_fails(router.port, pki.client_context())
    _, kind, info = await _one_event(router)
    assert kind == "InvalidChargingStationCertificate"
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in info


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_a_charger_limited_to_tls_1_1_is_an_event(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    tls11 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls11.load_verify_locations(pki.ca)
    tls11.minimum_version = ssl.TLSVersion.TLSv1
    tls11.maximum_version = ssl.TLSVersion.TLSv1_1
    tls11.set_ciphers("ALL:@SECLEVEL=0")
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side())
    assert router.port is not None
    await _handshake_fails(router.port, tls11)
    assert (await _one_event(router))[1] == "InvalidTLSVersion"


async def test_a_charger_without_a_suite_of_the_spec_is_an_event(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    outside_the_spec = pki.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
    outside_the_spec.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA256")
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side())
    assert router.port is not None
    await _handshake_fails(router.port, outside_the_spec)
    assert (await _one_event(router))[1] == "InvalidTLSCipherSuite"


async def test_a_charger_that_connects_and_leaves_is_no_event(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side())
    url = f"wss://127.0.0.1:{router.port}"
    charger = await connect_charge_point(url, "CP-9", "ocpp2.0.1", ssl_context=pki.client_context())
    assert (await charger.cp.boot()).status == "Accepted"
    await charger.close()
    await wait_until(lambda: not router.connected(), 5, "the charger gone")
    assert _security_events(router) == []


async def test_the_csms_refusing_a_chargers_credentials_is_an_event(
    make_router: RouterFactory,
) -> None:
    csms = Csms(passwords={"CP-4": "right password 0123"})
    await csms.start()
    try:
        router = await make_router(csms.url)
        with pytest.raises(Exception, match="401"):
            await connect_charge_point(
                f"ws://127.0.0.1:{router.port}", "CP-4", password="wrong password 0123"
            )
        identity, kind, info = await _one_event(router)
        assert (identity, kind) == ("CP-4", "FailedToAuthenticateAtCsms")
        assert "wrong" not in info
    finally:
        await csms.stop()


async def test_a_csms_certificate_that_does_not_verify_is_one_event(
    pki: Pki, make_router: RouterFactory, tmp_path: Path
) -> None:
    (tmp_path / "rogue").mkdir()
    rogue = Pki(tmp_path / "rogue")
    impostor = Csms(ssl_context=rogue.server_context())
    await impostor.start()
    try:
        router = await make_router(
            f"wss://127.0.0.1:{impostor.port}",
            upstream_ssl=upstream_context(UpstreamTlsSettings(pki.ca)),
        )
        for identity in ("CP-5", "CP-6"):
            with pytest.raises(Exception, match="502"):
                await connect_charge_point(f"ws://127.0.0.1:{router.port}", identity)
        _, kind, info = await _one_event(router)  # once, not once per dial
        assert kind == "InvalidCsmsCertificate"
        assert "certificate verify failed" in info
    finally:
        await impostor.stop()
