"""A charger's TLS client certificate another CA issued, a CSMS's refusal of a charger's
credentials and a CSMS certificate that does not verify become security events of the LC; a
charger that connects and leaves is none. (Refused TLS versions, suites and missing client
certificates: tests/router/test_tls.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from pathlib import Path

import pytest

from router.tls import UpstreamTlsSettings, upstream_context
from tests.conftest import RouterFactory
from tests.peers import Csms, connect_charge_point, wait_until
from tests.router.test_tls import Pki, one_security_event, security_events

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


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


async def test_a_charger_certificate_another_ca_issued_is_an_event(
    pki: Pki, csms: Csms, make_router: RouterFactory, tmp_path: Path
) -> None:
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side(profile_3=True))
    assert router.port is not None
    (tmp_path / "other").mkdir()
    other = Pki(tmp_path / "other")
    await _handshake_fails(router.port, pki.client_context(other.issue("CP-1", "cp-1")))
    identity, kind, info = await one_security_event(router)
    assert (identity, kind) == ("", "InvalidChargingStationCertificate")
    assert "unable to get local issuer certificate" in info


async def test_a_charger_that_connects_and_leaves_is_no_event(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side())
    url = f"wss://127.0.0.1:{router.port}"
    charger = await connect_charge_point(url, "CP-9", "ocpp2.0.1", ssl_context=pki.client_context())
    assert (await charger.cp.boot()).status == "Accepted"
    await charger.close()
    await wait_until(lambda: not router.connected(), 5, "the charger gone")
    assert security_events(router) == []


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
        identity, kind, info = await one_security_event(router)
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
        _, kind, info = await one_security_event(router)  # once, not once per dial
        assert kind == "InvalidCsmsCertificate"
        assert "certificate verify failed" in info
    finally:
        await impostor.stop()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_a_csms_limited_to_tls_1_1_is_an_event(pki: Pki, make_router: RouterFactory) -> None:
    old_csms = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    old_csms.load_cert_chain(*pki.issue("127.0.0.1", "old-csms", server=True))
    old_csms.minimum_version = ssl.TLSVersion.TLSv1
    old_csms.maximum_version = ssl.TLSVersion.TLSv1_1
    old_csms.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def refuse_one() -> None:
            # A blocking TLS server: OpenSSL sends its protocol_version alert before closing
            # (asyncio's TLS server would only drop the connection).
            connection, _ = listener.accept()
            with connection, contextlib.suppress(ssl.SSLError, OSError):
                old_csms.wrap_socket(connection, server_side=True)

        serving = asyncio.create_task(asyncio.to_thread(refuse_one))
        router = await make_router(
            f"wss://127.0.0.1:{listener.getsockname()[1]}",
            upstream_ssl=upstream_context(UpstreamTlsSettings(pki.ca)),
        )
        with pytest.raises(Exception, match="502"):
            await connect_charge_point(f"ws://127.0.0.1:{router.port}", "CP-8")
        await serving
    _, kind, info = await one_security_event(router)
    assert kind == "InvalidTLSVersion"
    assert info == "TLS handshake with the CSMS: TLSV1_ALERT_PROTOCOL_VERSION"
