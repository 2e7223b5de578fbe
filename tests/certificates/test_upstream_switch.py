"""After a renewal, the next CSMS link presents the LC's new certificate (A02.FR.08), over real
TLS to a PyPI-`ocpp` CSMS that requires client certificates (security profile 3); chargers
already connected keep their links."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from certificates.config import CertificateSettings
from certificates.own_identity import OwnCertificates
from certificates.renewal import (
    CertificateRenewal,
    RenewalSettings,
    SendSignCertificate,
    UseNewCertificate,
)
from certificates.trust_store import InstallOutcome, TrustStore
from certificates.upstream_tls import managed_upstream_context
from lc.app import LocalController
from lc.config import load_config
from router.offline import OfflineSettings
from router.settings import HoldSettings
from router.tls import UpstreamTlsSettings
from tests.certificates.ca import TestCa, pem
from tests.conftest import RouterFactory, lc_url
from tests.peers import (
    ChargePoint201,
    Csms,
    CsmsStation201,
    RecordingConnection,
    connect_charge_point,
    on,
    wait_until,
)

IDENTITY = "LC-0001"


def _renew(cso: TestCa, store: TrustStore, own: OwnCertificates) -> x509.Certificate:
    """One whole A02 round: trigger, CSR, the CA signs, CertificateSigned, stored."""
    now = datetime.now(UTC)
    renewal = CertificateRenewal(RenewalSettings(IDENTITY, "Test CSO"))
    [_keep, request] = renewal.trigger(now)
    assert isinstance(request, SendSignCertificate)
    renewal.sign_certificate_answered(True, now)
    leaf = cso.sign(x509.load_pem_x509_csr(request.payload["csr"].encode("ascii")))
    roots = store.roots("CSMSRootCertificate", "V2GRootCertificate")
    response, [use, _forget] = renewal.certificate_signed(
        {"certificateChain": cso.chain_pem(leaf)}, roots, now
    )
    assert response == {"status": "Accepted"}
    assert isinstance(use, UseNewCertificate)
    own.store(use)
    return leaf


def _presented_serial(csms: Csms, identity: str) -> int:
    peer = csms.connections[identity].ws.transport.get_extra_info("peercert")
    return int(peer["serialNumber"], 16)


@dataclass
class Pki:
    """The CSO's CA, the LC's trust store with its root, the LC's own certificates."""

    cso: TestCa
    store: TrustStore
    own: OwnCertificates


@contextlib.asynccontextmanager
async def _csms_requiring_client_certificates(
    folder: Path, intermediate: bool
) -> AsyncIterator[tuple[Csms, Pki]]:
    """A running CSMS that admits only client certificates of its CSO's CA, and the LC's side."""
    cso = TestCa("CSO Root", intermediate=intermediate)
    # Where [certificates] folder = "<folder>/certificates" keeps them.
    managed = CertificateSettings(folder / "certificates", "Test CSO")
    pki = Pki(cso, TrustStore(managed.trust_folder), OwnCertificates(managed.own_folder))
    installed = pki.store.install("CSMSRootCertificate", pem(cso.root), datetime.now(UTC))
    assert installed is InstallOutcome.ACCEPTED
    requiring = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    requiring.load_cert_chain(*cso.issue_server(folder))
    requiring.verify_mode = ssl.CERT_REQUIRED
    requiring.load_verify_locations(cadata=pem(cso.root))
    csms = Csms(ssl_context=requiring)
    await csms.start()
    try:
        yield csms, pki
    finally:
        await csms.stop()


async def test_the_next_csms_link_presents_the_renewed_certificate_and_none_is_dropped(
    tmp_path: Path, make_router: RouterFactory
) -> None:
    async with _csms_requiring_client_certificates(tmp_path, intermediate=True) as (csms, pki):
        cso, store, own, now = pki.cso, pki.store, pki.own, datetime.now(UTC)
        first = _renew(cso, store, own)
        # No CA configured: the CSMS is trusted through the root it installed.
        configured = UpstreamTlsSettings()
        router = await make_router(
            csms.url, upstream_ssl=managed_upstream_context(configured, own.current(now), store)
        )
        before = await connect_charge_point(lc_url(router), "CP-A", "ocpp2.0.1")
        try:
            assert (await before.cp.boot()).status == "Accepted"
            assert _presented_serial(csms, "CP-A") == first.serial_number

            second = _renew(cso, store, own)
            renewed = managed_upstream_context(configured, own.current(datetime.now(UTC)), store)
            assert router.use_upstream_tls(renewed)
            after = await connect_charge_point(lc_url(router), "CP-B", "ocpp2.0.1")
            try:
                assert (await after.cp.boot()).status == "Accepted"
                assert _presented_serial(csms, "CP-B") == second.serial_number
                # The charger connected before goes on over its link, never dropped.
                assert (await before.cp.boot()).status == "Accepted"
                assert len(csms.history["CP-A"]) == 1
                assert _presented_serial(csms, "CP-A") == first.serial_number
            finally:
                await after.close()
        finally:
            await before.close()


async def test_under_hold_open_csms_links_move_to_the_renewed_certificate_one_by_one(
    tmp_path: Path, make_router: RouterFactory
) -> None:
    async with _csms_requiring_client_certificates(tmp_path, intermediate=False) as (csms, pki):
        cso, store, own, now = pki.cso, pki.store, pki.own, datetime.now(UTC)
        first = _renew(cso, store, own)
        configured = UpstreamTlsSettings()
        router = await make_router(
            csms.url,
            upstream_ssl=managed_upstream_context(configured, own.current(now), store),
            hold=HoldSettings(tmp_path / "journal.sqlite", OfflineSettings(redial_interval_s=0.1)),
        )
        chargers = [
            await connect_charge_point(lc_url(router), identity, "ocpp2.0.1")
            for identity in ("CP-A", "CP-B")
        ]
        try:
            for charger in chargers:
                assert (await charger.cp.boot()).status == "Accepted"
            assert {_presented_serial(csms, i) for i in ("CP-A", "CP-B")} == {first.serial_number}

            second = _renew(cso, store, own)
            renewed = managed_upstream_context(configured, own.current(datetime.now(UTC)), store)
            assert router.use_upstream_tls(renewed)
            assert await router.redial_csms_links() == 2
            for identity, charger in zip(("CP-A", "CP-B"), chargers, strict=True):
                assert len(csms.history[identity]) == 2  # one new CSMS link each
                assert _presented_serial(csms, identity) == second.serial_number
                # The charger's own link was never dropped: it goes on to the CSMS.
                assert (await charger.cp.boot()).status == "Accepted"
                assert csms.received(identity)[-1].startswith("[2,")
            assert sorted(router.connected()) == ["CP-A", "CP-B"]
        finally:
            for charger in chargers:
                await charger.close()


class GatedResetCharger(ChargePoint201):
    """Answers Reset only once `answer` is set."""

    def __init__(
        self, identity: str, connection: RecordingConnection, answer_delay_s: float = 0.0
    ) -> None:
        super().__init__(identity, connection, answer_delay_s)
        self.answer = asyncio.Event()

    @on("Reset")
    async def on_reset(self, **_: object) -> result201.Reset:
        self.handled.append("Reset")
        await self.answer.wait()
        return result201.Reset(status="Accepted")


async def test_a_csms_call_in_flight_is_answered_before_its_link_moves(
    tmp_path: Path, make_router: RouterFactory
) -> None:
    csms = Csms()
    await csms.start()
    try:
        router = await make_router(
            csms.url,
            hold=HoldSettings(tmp_path / "journal.sqlite", OfflineSettings(redial_interval_s=0.1)),
        )
        charger = await connect_charge_point(
            lc_url(router), "CP-A", "ocpp2.0.1", cp_class=GatedResetCharger
        )
        try:
            assert isinstance(charger.cp, GatedResetCharger)
            assert (await charger.cp.boot()).status == "Accepted"
            station = csms.stations["CP-A"]
            assert isinstance(station, CsmsStation201)
            reset = asyncio.create_task(station.call(call201.Reset(type="OnIdle")))
            await wait_until(
                lambda: charger.cp.handled == ["Reset"], 10, "the Reset at the charger"
            )
            moving = asyncio.create_task(router.redial_csms_links())
            charger.cp.answer.set()
            # The CSMS gets its answer over the link the call came by, then the link moves.
            async with asyncio.timeout(10):
                assert (await reset).status == "Accepted"
                assert await moving == 1
            assert len(csms.history["CP-A"]) == 2
        finally:
            await charger.close()
    finally:
        await csms.stop()


async def test_after_a_restart_the_lc_presents_its_renewed_certificate(tmp_path: Path) -> None:
    async with _csms_requiring_client_certificates(tmp_path, intermediate=False) as (csms, pki):
        # The certificate the installer configured, then one renewal stored by the LC.
        (tmp_path / "configured").mkdir()
        configured_certificate, configured_key = pki.cso.issue_server(tmp_path / "configured")
        config_path = tmp_path / "site.toml"
        folder = tmp_path / "certificates"
        renewed = _renew(pki.cso, pki.store, pki.own)
        config_path.write_text(
            f'[router]\nupstream_url = "{csms.url}"\nlisten_host = "127.0.0.1"\n'
            'listen_port = 0\nconnection_loss = "close"\n'
            f'[router.upstream_tls]\ncertificate = "{configured_certificate}"\n'
            f'private_key = "{configured_key}"\n'
            '[metrics]\nlisten_host = "127.0.0.1"\nlisten_port = 0\n'
            f'[certificates]\nfolder = "{folder}"\norganization = "Test CSO"\n'
        )
        lc = LocalController(load_config(config_path), config_path)
        await lc.start()
        try:
            charger = await connect_charge_point(lc_url(lc.router), "CP-R", "ocpp2.0.1")
            try:
                assert (await charger.cp.boot()).status == "Accepted"
                # Trusted through the installed root (no [router.upstream_tls] ca), and the
                # renewed certificate presented, not the configured one.
                assert _presented_serial(csms, "CP-R") == renewed.serial_number
            finally:
                await charger.close()
        finally:
            await lc.stop()
