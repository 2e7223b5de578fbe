"""A renewed client certificate the CSMS refuses never strands the LC (errata 2025-09:
A02.FR.08/10/28/29): over real TLS to a PyPI-`ocpp` CSMS that requires client certificates
(security profile 3), the LC reconnects with the renewed certificate, falls back to the old
one when no entry takes it, and keeps only the one that connected; the chargers' CSMS links
follow; a restart in the middle resumes the trial."""

from __future__ import annotations

import contextlib
import ssl
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from certificates.own_identity import OwnCertificates
from router.tls_failures import record_charger_handshake_failures
from station.link import StationLink
from station.session import LinkState
from tests.certificates.ca import TestCa, pem
from tests.conftest import lc_url
from tests.peers import connect_charge_point, running, wait_until
from tests.station.csms16_for_lc import CsmsForLc16
from tests.station.csms_for_lc import IDENTITY, CsmsForLc, accepted_lc
from tests.station.test_network_profiles import _set_comm
from tests.station.test_station_certificates import (
    certificates_config,
    csr_after,
    presented_serial,
    profile_3,
)

pytestmark = pytest.mark.timeout(60)

DISCARDED = "DiscardedRenewedClientCertificate"
TRIGGER = call201.TriggerMessage(requested_message="SignChargingStationCertificate")


async def _install(csms: CsmsForLc, certificate_type: str, ca: TestCa) -> None:
    request = call201.InstallCertificate(
        certificate_type=certificate_type, certificate=pem(ca.root)
    )
    assert (await csms.connected(IDENTITY).call(request)).status == "Accepted"


async def _signed(csms: CsmsForLc, ca: TestCa) -> x509.Certificate:
    """A renewal the CSMS triggers and `ca` signs, Accepted by the LC."""
    leaf = ca.sign(await csr_after(csms, csms.connected(IDENTITY), TRIGGER))
    signed = call201.CertificateSigned(certificate_chain=ca.chain_pem(leaf))
    assert (await csms.connected(IDENTITY).call(signed)).status == "Accepted"
    return leaf


async def _reconnected(csms: CsmsForLc, link: StationLink, connections: int) -> None:
    """The LC's own link is back at `csms` with a new connection, Accepted."""
    await wait_until(lambda: _csms_links(csms, IDENTITY) > connections, 30, "the LC reconnecting")
    await wait_until(lambda: link.session.state is LinkState.ACCEPTED, 10, "Accepted")


def _presented_by(csms: CsmsForLc, identity: str) -> int:
    """The serial of the client certificate on `identity`'s latest link to `csms`."""
    index = max(i for i, station in enumerate(csms.stations) if station.identity == identity)
    peer = csms.connections[index].ws.transport.get_extra_info("peercert")
    return int(peer["serialNumber"], 16)


def _holding(csms: CsmsForLc, folder: Path, tls: dict[str, str]) -> dict[str, Any]:
    """An LC config with `tls` towards `csms` whose chargers' CSMS links outlive a redial."""
    offline = {"journal_path": str(folder / "journal.sqlite"), "redial_interval_s": 0.1}
    return certificates_config(
        csms, folder, upstream_tls=tls, connection_loss="hold", offline=offline
    )


def _csms_links(csms: CsmsForLc, identity: str) -> int:
    return sum(station.identity == identity for station in csms.stations)


def _trusting(cso: TestCa, folder: Path, *more: TestCa) -> ssl.SSLContext:
    """A profile-3 CSMS context like `profile_3`'s, trusting client certificates of `more` too."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=pem(cso.root, *(ca.root for ca in more)))
    return context


@dataclass
class Site:
    """A profile-3 CSMS, the LC at it with the configured certificate, a charger behind it."""

    csms: CsmsForLc
    link: StationLink
    own: OwnCertificates
    configured: x509.Certificate  # [router.upstream_tls] certificate
    refused: list[str]  # the LC's TLS handshakes the CSMS refused


@contextlib.asynccontextmanager
async def _site(folder: Path, cso: TestCa) -> AsyncIterator[Site]:
    requiring, tls, certificate = profile_3(cso, folder)
    refused: list[str] = []
    record_charger_handshake_failures(requiring, lambda kind, _info: refused.append(kind))
    async with (
        running(CsmsForLc(ssl_context=requiring)) as csms,
        accepted_lc(_holding(csms, folder, tls)) as (lc, link),
    ):
        assert lc.own_certificates is not None
        configured = x509.load_pem_x509_certificate(certificate.read_bytes())
        charger = await connect_charge_point(lc_url(lc.router), "CP-1", "ocpp2.0.1")
        try:
            assert (await charger.cp.boot()).status == "Accepted"
            assert _presented_by(csms, "CP-1") == configured.serial_number
            yield Site(csms, link, lc.own_certificates, configured, refused)
            # The charger's own link was never dropped: it goes on to the CSMS.
            assert (await charger.cp.boot()).status == "Accepted"
        finally:
            await charger.close()


async def test_a_refused_renewed_certificate_gives_way_to_the_old_one_and_is_discarded(
    tmp_path: Path,
) -> None:
    untrusted = TestCa("Renewal CA the CSMS does not trust")
    async with _site(tmp_path, TestCa("CSO Root")) as site:
        csms = site.csms
        # The LC takes a certificate of this root (A00.FR.602); the CSMS does not.
        await _install(csms, "V2GRootCertificate", untrusted)
        connections = _csms_links(csms, IDENTITY)
        await _signed(csms, untrusted)

        # A02.FR.08: it reconnects with the renewed one; every attempt at the only entry is
        # refused, then it falls back to the old one (A02.FR.28) and is back.
        await _reconnected(csms, site.link, connections)
        assert len(site.refused) >= 3  # NetworkProfileConnectionAttempts' default
        assert _presented_by(csms, IDENTITY) == site.configured.serial_number
        # A02.FR.10: the renewed pair is gone, key and all; A02.FR.29: the CSMS hears of it.
        await wait_until(
            lambda: any(event["type"] == DISCARDED for event in csms.security_events),
            10,
            "DiscardedRenewedClientCertificate at the CSMS",
        )
        assert site.own.all() == []
        assert not list((tmp_path / "certificates" / "station").glob("station-*"))
        # The chargers' CSMS links never left the certificate the LC's own link settled on.
        assert _csms_links(csms, "CP-1") == 1
        assert _presented_by(csms, "CP-1") == site.configured.serial_number


async def test_a_renewed_certificate_the_csms_takes_settles_and_the_old_pair_goes(
    tmp_path: Path,
) -> None:
    cso = TestCa("CSO Root")
    async with _site(tmp_path, cso) as site:
        csms, link, own = site.csms, site.link, site.own
        await _install(csms, "CSMSRootCertificate", cso)
        connections = _csms_links(csms, IDENTITY)
        first = await _signed(csms, cso)
        await _reconnected(csms, link, connections)  # A02.FR.08: at once
        assert _presented_by(csms, IDENTITY) == first.serial_number
        # Settled: the charger's CSMS link follows, the charger's own link stays.
        await wait_until(lambda: _csms_links(csms, "CP-1") == 2, 20, "CP-1 redialled")
        assert _presented_by(csms, "CP-1") == first.serial_number
        [old] = own.all()

        connections = _csms_links(csms, IDENTITY)
        second = await _signed(csms, cso)
        await _reconnected(csms, link, connections)
        assert _presented_by(csms, IDENTITY) == second.serial_number
        # A02.FR.10: connected with the renewed one, the old pair is discarded.
        await wait_until(lambda: not old.key_path.exists(), 10, "the old pair discarded")
        assert [pair.certificate for pair in own.all()] == [second]
        assert own.on_trial() is None
        assert not old.certificate_path.exists()
        assert all(event["type"] != DISCARDED for event in csms.security_events)
        await wait_until(lambda: _csms_links(csms, "CP-1") == 3, 20, "CP-1 redialled")
        assert _presented_by(csms, "CP-1") == second.serial_number


async def test_a_restart_during_the_trial_keeps_both_pairs_and_the_trial_resumes(
    tmp_path: Path,
) -> None:
    cso, later_trusted = TestCa("CSO Root"), TestCa("Renewal CA trusted later")
    requiring, tls, _certificate = profile_3(cso, tmp_path)
    refused: list[str] = []
    record_charger_handshake_failures(requiring, lambda kind, _info: refused.append(kind))
    csms = CsmsForLc(ssl_context=requiring)
    async with running(csms):
        config = certificates_config(csms, tmp_path, upstream_tls=tls)
        async with accepted_lc(config) as (_lc, link):
            await _install(csms, "CSMSRootCertificate", cso)
            await _install(csms, "V2GRootCertificate", later_trusted)
            connections = _csms_links(csms, IDENTITY)
            settled = await _signed(csms, cso)  # a pair of its own, settled
            await _reconnected(csms, link, connections)
            # Every entry gets many attempts: the LC stays with the renewed one meanwhile.
            assert await _set_comm(csms, "NetworkProfileConnectionAttempts", "1000") == "Accepted"
            renewed = await _signed(csms, later_trusted)
            await wait_until(lambda: len(refused) >= 2, 20, "the CSMS refusing the renewed one")
        # Stopped between the switch and a success: both pairs kept, keys private.
        own = OwnCertificates(tmp_path / "certificates" / "station")
        on_trial, old = own.on_trial(), own.settled(datetime.now(UTC))
        assert on_trial is not None and on_trial.certificate == renewed
        assert old is not None and old.certificate == settled
        for pair in (on_trial, old):
            assert stat.S_IMODE(pair.key_path.stat().st_mode) == 0o600

        # The CSMS now takes the renewed one: the restarted LC dials with it first, and keeps
        # only it once connected.
        await csms.stop()
        csms.ssl_context = _trusting(cso, tmp_path, later_trusted)
        await csms.start()
        async with accepted_lc(config) as (restarted, _link):
            assert _presented_by(csms, IDENTITY) == renewed.serial_number
            assert restarted.own_certificates is not None
            pairs = restarted.own_certificates.all
            await wait_until(lambda: len(pairs()) == 1, 10, "the old pair discarded")
            assert [pair.certificate for pair in pairs()] == [renewed]
            assert not old.key_path.exists()


async def test_a_1_6_csms_hears_of_the_discarded_renewed_certificate(tmp_path: Path) -> None:
    cso, untrusted = TestCa("CSO Root"), TestCa("Renewal CA the CSMS does not trust")
    requiring, tls, certificate = profile_3(cso, tmp_path)
    async with running(CsmsForLc16(ssl_context=requiring)) as csms:
        config = certificates_config(csms, tmp_path, {"ocpp_version": "1.6"}, upstream_tls=tls)
        async with accepted_lc(config) as (_lc, link):
            station = csms.station16
            install = call16.InstallCertificate(
                certificate_type="CentralSystemRootCertificate", certificate=pem(untrusted.root)
            )
            assert (await station.call(install)).status == "Accepted"
            trigger = call16.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
            leaf = untrusted.sign(await csr_after(csms, station, trigger))
            connections = len(csms.stations16)
            signed = call16.CertificateSigned(certificate_chain=untrusted.chain_pem(leaf))
            assert (await station.call(signed)).status == "Accepted"

            await wait_until(lambda: len(csms.stations16) > connections, 30, "the LC back")
            await wait_until(lambda: link.session.state is LinkState.ACCEPTED, 10, "Accepted")
            configured = x509.load_pem_x509_certificate(certificate.read_bytes())
            assert presented_serial(csms) == configured.serial_number
            await wait_until(
                lambda: DISCARDED in [event["type"] for event in csms.security_events],
                10,
                "DiscardedRenewedClientCertificate at the 1.6 CSMS",
            )
