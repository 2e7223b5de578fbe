"""Security profiles 2 and 3 on both sides of the LC, and its identity checks (Part 4 §6.5).

Real TLS on 127.0.0.1 with a throw-away CA: the LC is the TLS server towards PyPI-`ocpp`
charge points and the TLS client of a PyPI-`ocpp` CSMS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvloop
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from websockets.typing import Subprotocol

from router import events as ev
from router.server import Router
from router.settings import RouterSettings
from router.tls import ChargerTlsSettings, UpstreamTlsSettings, charger_context, upstream_context
from tests.conftest import ObservedRouter, RouterFactory, lc_url
from tests.peers import Csms, basic_auth, connect_charge_point, running, wait_until

PASSWORD = "0123456789abcdef0123"  # A00.FR.205: 16 to 40 characters
# A00.FR.318: the TLS 1.2 suites the spec has a CSMS support.
SPEC_TLS12_SUITES = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
}


class Pki:
    """A throw-away CSO certificate authority that writes what it issues as PEM files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = _name("Test CSO Root CA")
        certificate = (
            _builder(self._name, self._name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca = directory / "ca.pem"
        self.ca.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

    def issue(
        self, common_name: str, stem: str, server: bool = False, rsa_key: bool = False
    ) -> tuple[Path, Path]:
        """A certificate with this CN and its key: (certificate file, key file).

        `server`: for 127.0.0.1 / localhost, as the LC's and the CSMS's are here. The key is
        ECDSA (P-256), or RSA (2048 bits) with `rsa_key`.
        """
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            rsa.generate_private_key(65537, 2048)
            if rsa_key
            else ec.generate_private_key(ec.SECP256R1())
        )
        builder = (
            _builder(_name(common_name), self._name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if server:
            addresses = [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(addresses), critical=False)
        certificate_path = self.directory / f"{stem}.pem"
        key_path = self.directory / f"{stem}.key"
        certificate = builder.sign(self._key, hashes.SHA256())
        certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return certificate_path, key_path

    def client_context(
        self,
        certificate: tuple[Path, Path] | None = None,
        maximum_version: ssl.TLSVersion | None = None,
    ) -> ssl.SSLContext:
        """A TLS client that trusts this CA, with a client certificate if given."""
        context = ssl.create_default_context(cafile=self.ca)
        if certificate is not None:
            context.load_cert_chain(*certificate)
        if maximum_version is not None:
            context.maximum_version = maximum_version
        return context

    def server_context(self, require_client_certificate: bool = False) -> ssl.SSLContext:
        """A plain TLS server for 127.0.0.1 (the test CSMS), not built with the LC's code."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.issue("127.0.0.1", "csms", server=True))
        if require_client_certificate:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context

    def lc_charger_side(self, profile_3: bool = False) -> ssl.SSLContext:
        """The LC's server context towards chargers; profile 3 requires their certificates."""
        certificate, key = self.issue("lc.example.net", "lc-server", server=True)
        charger_ca = self.ca if profile_3 else None
        return charger_context(ChargerTlsSettings(((certificate, key),), charger_ca))

    def lc_csms_side(self, own_certificate: bool = False) -> ssl.SSLContext:
        """The LC's client context towards the CSMS, with its own certificate for profile 3."""
        certificate, key = self.issue("LC-0001", "lc-client") if own_certificate else (None, None)
        return upstream_context(UpstreamTlsSettings(self.ca, certificate, key))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test CSO"),  # A00.FR.509
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
    )


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def lc_tls_url(router: Router) -> str:
    return f"wss://127.0.0.1:{router.port}"


async def _connect(
    url: str,
    identity: str,
    context: ssl.SSLContext | None = None,
    authorization: str | None = None,
) -> websockets.ClientConnection:
    headers = {"Authorization": authorization} if authorization else {}
    tls: dict[str, Any] = {} if context is None else {"ssl": context}
    return await websockets.connect(
        f"{url}/ocpp/{identity}",
        subprotocols=[Subprotocol("ocpp2.0.1")],
        additional_headers=headers,
        open_timeout=5,
        **tls,
    )


async def _http_refusal(
    url: str,
    identity: str,
    context: ssl.SSLContext | None = None,
    authorization: str | None = None,
) -> websockets.InvalidStatus:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await _connect(url, identity, context, authorization)
    return refused.value


@contextlib.asynccontextmanager
async def _permissive_tls_server(pki: Pki) -> AsyncIterator[int]:
    """A TLS server that takes any version and suite OpenSSL still has: the control that shows
    a test client can complete a handshake at all, so that the LC's refusal is the LC's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki.issue("127.0.0.1", "permissive", server=True))
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")

    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _handshake(port: int, context: ssl.SSLContext) -> tuple[str, str]:
    """Complete a TLS handshake with 127.0.0.1:port: the (version, suite) it agreed on."""
    _, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context), timeout=5
    )
    try:
        tls = writer.get_extra_info("ssl_object")
        return tls.version(), tls.cipher()[0]
    finally:
        writer.close()


def security_events(router: ObservedRouter) -> list[tuple[str, str, str]]:
    """The security events the router raised: (charger identity or "", type, tech info)."""
    return [
        (event.identity, event.type, event.tech_info)
        for event in router.observed
        if isinstance(event, ev.SecurityEventRaised)
    ]


async def one_security_event(router: ObservedRouter) -> tuple[str, str, str]:
    await wait_until(lambda: security_events(router), 5, "a security event")
    [event] = security_events(router)
    return event


def _refusals(router: Router, reason: str) -> float:
    return float(router.metrics.charger_refusals.labels(reason)._value.get())


# -- security profile 2 ---------------------------------------------------------------------


async def test_profile_2_on_both_links(pki: Pki, make_router: RouterFactory) -> None:
    """Charger -> LC over TLS with Basic auth, LC -> CSMS over TLS: the CSMS checks the same
    Authorization header it would see from the charger itself."""
    async with running(
        Csms(passwords={"CP-2": PASSWORD}, ssl_context=pki.server_context())
    ) as csms:
        assert csms.url.startswith("wss://")
        router = await make_router(
            csms.url, server_ssl=pki.lc_charger_side(), upstream_ssl=pki.lc_csms_side()
        )
        charger = await connect_charge_point(
            lc_tls_url(router), "CP-2", "ocpp2.0.1", PASSWORD, ssl_context=pki.client_context()
        )
        try:
            assert (await charger.cp.boot()).status == "Accepted"
            assert [handshake.authorization for handshake in csms.handshakes] == [
                basic_auth("CP-2", PASSWORD)
            ]
            charger_tls = charger.ws.transport.get_extra_info("ssl_object")
            csms_tls = csms.connections["CP-2"].ws.transport.get_extra_info("ssl_object")
            assert charger_tls.version() == csms_tls.version() == "TLSv1.3"
        finally:
            await charger.close()


async def test_a_tls_1_2_charger_gets_a_suite_of_the_spec(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side())
    tls12 = pki.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
    charger = await connect_charge_point(
        lc_tls_url(router), "CP-12", "ocpp2.0.1", ssl_context=tls12
    )
    try:
        tls = charger.ws.transport.get_extra_info("ssl_object")
        assert tls.version() == "TLSv1.2" and tls.cipher()[0] in SPEC_TLS12_SUITES
        assert (await charger.cp.boot()).status == "Accepted"
    finally:
        await charger.close()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_a_charger_limited_to_tls_1_1_is_refused(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    tls11 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls11.load_verify_locations(pki.ca)
    tls11.minimum_version = ssl.TLSVersion.TLSv1
    tls11.maximum_version = ssl.TLSVersion.TLSv1_1
    tls11.set_ciphers("ALL:@SECLEVEL=0")  # OpenSSL 3 keeps TLS 1.1 at security level 0 only
    async with _permissive_tls_server(pki) as port:
        assert (await _handshake(port, tls11))[0] == "TLSv1.1"
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side())
    assert router.port is not None
    with pytest.raises(OSError):
        await _handshake(router.port, tls11)
    with pytest.raises((OSError, websockets.InvalidMessage)):
        await _connect(lc_tls_url(router), "CP-11", tls11)
    assert csms.handshakes == []
    # Two handshakes, two events.
    await wait_until(lambda: len(security_events(router)) == 2, 5, "the security events")
    assert {kind for _, kind, _ in security_events(router)} == {"InvalidTLSVersion"}


async def test_a_tls_1_2_charger_without_a_suite_of_the_spec_is_refused(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    outside_the_spec = pki.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
    outside_the_spec.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA256")
    async with _permissive_tls_server(pki) as port:
        assert (await _handshake(port, outside_the_spec))[0] == "TLSv1.2"
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side())
    assert router.port is not None
    with pytest.raises(OSError):
        await _handshake(router.port, outside_the_spec)
    assert csms.handshakes == []
    assert (await one_security_event(router))[1] == "InvalidTLSCipherSuite"


async def test_with_an_rsa_and_an_ecdsa_certificate_chargers_of_either_suite_pair_connect(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    """A00.FR.319 lets a charger support only the TLS_RSA pair or only the ECDHE_ECDSA pair;
    the LC serves each with the certificate its suite needs (A00.FR.318's two certificates)."""
    ecdsa = pki.issue("lc.example.net", "lc-ecdsa", server=True)
    rsa_pair = pki.issue("lc.example.net", "lc-rsa", server=True, rsa_key=True)
    both = charger_context(ChargerTlsSettings((ecdsa, rsa_pair)))
    router = await make_router(csms.url, server_ssl=both)
    for identity, suite, key_type in (
        ("CP-RSA", "AES128-GCM-SHA256", rsa.RSAPublicKey),
        ("CP-ECDSA", "ECDHE-ECDSA-AES256-GCM-SHA384", ec.EllipticCurvePublicKey),
    ):
        only_one_pair = pki.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
        only_one_pair.set_ciphers(suite)
        charger = await connect_charge_point(
            lc_tls_url(router), identity, "ocpp2.0.1", ssl_context=only_one_pair
        )
        try:
            tls = charger.ws.transport.get_extra_info("ssl_object")
            assert tls.cipher()[0] == suite
            served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
            assert isinstance(served.public_key(), key_type)
            assert (await charger.cp.boot()).status == "Accepted"
        finally:
            await charger.close()

    # With its ECDSA certificate alone, the LC cannot serve a TLS_RSA-only charger.
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side())
    rsa_only = pki.client_context(maximum_version=ssl.TLSVersion.TLSv1_2)
    rsa_only.set_ciphers("AES128-GCM-SHA256")
    assert router.port is not None
    with pytest.raises(OSError):
        await _handshake(router.port, rsa_only)


# -- identity checks ------------------------------------------------------------------------


async def test_a_basic_auth_user_that_is_not_the_identity_gets_401(
    pki: Pki, make_router: RouterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="router")
    async with running(Csms()) as csms:  # a CSMS that would accept anyone
        router = await make_router(csms.url, server_ssl=pki.lc_charger_side())
        url, context = lc_tls_url(router), pki.client_context()
        someone_else = await _http_refusal(url, "CP-A", context, basic_auth("CP-B", PASSWORD))
        unreadable = await _http_refusal(url, "CP-A", context, "Basic not-base64!")
        for refusal in (someone_else, unreadable):
            assert refusal.response.status_code == 401
            assert refusal.response.headers["WWW-Authenticate"].startswith("Basic ")
        assert csms.handshakes == []
        assert _refusals(router, "basic_auth_user") == 2

        charger = await _connect(url, "CP-A", context, basic_auth("CP-A", PASSWORD))
        await charger.close()
        assert [handshake.path for handshake in csms.handshakes] == ["/ocpp/CP-A"]
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith("router")
    )
    assert "CP-A: refused with HTTP 401" in logged
    for secret in (PASSWORD, basic_auth("CP-B", PASSWORD), "CP-B", "not-base64"):
        assert secret not in logged


async def test_an_identity_not_in_the_allow_list_gets_404(
    csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, allowed_identities=frozenset({"CP-listed"}))
    refusal = await _http_refusal(lc_url(router), "CP-unlisted")
    assert refusal.response.status_code == 404
    assert csms.handshakes == []
    assert _refusals(router, "not_allowed") == 1

    charger = await connect_charge_point(lc_url(router), "CP-listed", "ocpp2.0.1")
    try:
        assert (await charger.cp.boot()).status == "Accepted"
    finally:
        await charger.close()


# -- security profile 3 ---------------------------------------------------------------------


async def test_profile_3_admits_the_charger_its_certificate_names(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side(profile_3=True))
    own = pki.client_context(pki.issue("CP-3", "cp-3"))
    charger = await connect_charge_point(lc_tls_url(router), "CP-3", "ocpp2.0.1", ssl_context=own)
    try:
        assert (await charger.cp.boot()).status == "Accepted"
        assert csms.handshakes[0].authorization is None  # the certificate was its credential
    finally:
        await charger.close()


async def test_profile_3_refuses_a_certificate_of_another_charger_with_403(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side(profile_3=True))
    url = lc_tls_url(router)
    charger = await connect_charge_point(
        url, "CP-3", "ocpp2.0.1", ssl_context=pki.client_context(pki.issue("CP-3", "cp-3"))
    )
    try:
        assert (await charger.cp.boot()).status == "Accepted"
        other = pki.client_context(pki.issue("CP-9", "cp-9"))
        refusal = await _http_refusal(url, "CP-3", other)
        assert refusal.response.status_code == 403
        assert _refusals(router, "certificate_cn") == 1
        # The refused connection neither reached the CSMS nor replaced the real CP-3.
        assert len(csms.handshakes) == 1
        assert list(router.connected()) == ["CP-3"]
        assert (await charger.cp.boot()).status == "Accepted"
    finally:
        await charger.close()


async def test_profile_3_checks_the_certificates_organization_when_configured(
    pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    """A00.FR.404: with charger_organization set, a certificate whose O does not name the CSO
    is refused with 403; the test CA's certificates have O = "Test CSO"."""
    other_operator = await make_router(
        csms.url,
        server_ssl=pki.lc_charger_side(profile_3=True),
        charger_organization="Other CSO",
    )
    own = pki.client_context(pki.issue("CP-3", "cp-3"))
    refusal = await _http_refusal(lc_tls_url(other_operator), "CP-3", own)
    assert refusal.response.status_code == 403
    assert _refusals(other_operator, "certificate_o") == 1
    assert csms.handshakes == []

    this_operator = await make_router(
        csms.url, server_ssl=pki.lc_charger_side(profile_3=True), charger_organization="CSO"
    )
    url = lc_tls_url(this_operator)
    charger = await connect_charge_point(url, "CP-3", "ocpp2.0.1", ssl_context=own)
    try:
        assert (await charger.cp.boot()).status == "Accepted"  # "Test CSO" contains "CSO"
    finally:
        await charger.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_profile_3_refuses_a_charger_without_a_certificate_in_the_handshake(
    version: ssl.TLSVersion, pki: Pki, csms: Csms, make_router: RouterFactory
) -> None:
    router = await make_router(csms.url, server_ssl=pki.lc_charger_side(profile_3=True))
    # No HTTP answer at all: the TLS handshake fails (under TLS 1.3 the client learns it
    # when it reads the answer to its upgrade request).
    with pytest.raises((OSError, websockets.InvalidMessage)):
        await _connect(lc_tls_url(router), "CP-3", pki.client_context(maximum_version=version))
    assert csms.handshakes == []
    _, kind, info = await one_security_event(router)
    assert kind == "InvalidChargingStationCertificate"
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in info


def test_profile_3_checks_the_certificate_on_uvloop(pki: Pki) -> None:
    """Production runs on uvloop, whose TLS transport is not asyncio's."""

    async def scenario() -> None:
        async with running(Csms()) as csms:
            router = Router(
                RouterSettings(
                    upstream_url=csms.url,
                    listen_port=0,
                    server_ssl=pki.lc_charger_side(profile_3=True),
                )
            )
            await router.start()
            try:
                assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
                url = lc_tls_url(router)
                own = pki.client_context(pki.issue("CP-U", "cp-u"))
                charger = await connect_charge_point(url, "CP-U", "ocpp2.0.1", ssl_context=own)
                assert (await charger.cp.boot()).status == "Accepted"
                await charger.close()
                other = pki.client_context(pki.issue("CP-9", "cp-9"))
                assert (await _http_refusal(url, "CP-U", other)).response.status_code == 403
                assert len(csms.handshakes) == 1
            finally:
                await router.stop()

    async def bounded() -> None:
        async with asyncio.timeout(30):
            await scenario()

    uvloop.run(bounded())


async def test_the_lc_presents_its_own_certificate_to_a_csms_that_requires_one(
    pki: Pki, make_router: RouterFactory
) -> None:
    requiring = pki.server_context(require_client_certificate=True)
    async with running(Csms(ssl_context=requiring)) as csms:
        anonymous = await make_router(csms.url, upstream_ssl=pki.lc_csms_side())
        refusal = await _http_refusal(lc_url(anonymous), "CP-4")
        assert refusal.response.status_code == 502  # the CSMS ended the TLS handshake
        assert csms.handshakes == []

        router = await make_router(csms.url, upstream_ssl=pki.lc_csms_side(own_certificate=True))
        charger = await connect_charge_point(lc_url(router), "CP-4", "ocpp2.0.1")
        try:
            assert (await charger.cp.boot()).status == "Accepted"
            seen = csms.connections["CP-4"].ws.transport.get_extra_info("peercert")
            assert dict(rdn[0] for rdn in seen["subject"])["commonName"] == "LC-0001"
        finally:
            await charger.close()
