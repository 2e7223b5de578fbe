"""A renewed TLS certificate of the LC applies on SIGHUP (config reload) to new charger
connections, without dropping the chargers connected over the old one."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from lc.app import LocalController
from lc.config import load_config
from router.tls import ChargerTlsSettings, charger_context
from tests.conftest import RouterFactory
from tests.peers import Csms, RunningChargePoint, connect_charge_point
from tests.router.test_tls import Pki, lc_tls_url, pki  # noqa: F401 (fixture)


def _served_name(charger: RunningChargePoint) -> str:
    der = charger.ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
    certificate = x509.load_der_x509_certificate(der)
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _context(issuer: Pki, common_name: str, charger_ca: Path | None = None) -> ssl.SSLContext:
    pair = issuer.issue(common_name, common_name, server=True)
    return charger_context(ChargerTlsSettings((pair,), charger_ca))


async def test_new_certificates_apply_to_new_connections_only(
    pki: Pki,  # noqa: F811
    csms: Csms,
    make_router: RouterFactory,
) -> None:
    router = await make_router(csms.url, server_ssl=_context(pki, "lc-old.example.net"))
    url, client = lc_tls_url(router), pki.client_context()
    before = await connect_charge_point(url, "CP-A", "ocpp2.0.1", ssl_context=client)
    assert _served_name(before) == "lc-old.example.net"

    assert router.use_server_certificates(_context(pki, "lc-new.example.net"))
    after = await connect_charge_point(url, "CP-B", "ocpp2.0.1", ssl_context=client)
    assert _served_name(after) == "lc-new.example.net"
    assert (await before.cp.boot()).status == "Accepted"  # still on its old TLS session

    # Security profile 3 cannot be switched on without a restart: nothing changes.
    assert not router.use_server_certificates(_context(pki, "lc-p3.example.net", pki.ca))
    third = await connect_charge_point(url, "CP-C", "ocpp2.0.1", ssl_context=client)
    assert _served_name(third) == "lc-new.example.net"
    for charger in (before, after, third):
        await charger.close()


async def test_renewed_files_apply_on_reload(pki: Pki, csms: Csms, tmp_path: Path) -> None:  # noqa: F811
    certificate, key = pki.issue("lc.example.net", "lc", server=True)
    config_path = tmp_path / "site.toml"
    config_path.write_text(
        f'[router]\nupstream_url = "{csms.url}"\nlisten_host = "127.0.0.1"\nlisten_port = 0\n'
        'connection_loss = "close"\n'
        f'[router.tls]\ncertificate = "{certificate}"\nprivate_key = "{key}"\n'
        "[metrics]\nlisten_port = 0\n"
    )
    lc = LocalController(load_config(config_path), config_path)
    await lc.start()
    try:
        url, client = lc_tls_url(lc.router), pki.client_context()
        first = await connect_charge_point(url, "CP-1", "ocpp1.6", ssl_context=client)
        old_serial = first.ws.transport.get_extra_info("ssl_object").getpeercert()["serialNumber"]

        pki.issue("lc.example.net", "lc", server=True)  # renewed in place: new key, new serial
        await lc.reload()
        reconfigured = lc.security.events.log.events[-1]
        assert reconfigured.type == "ReconfigurationOfSecurityParameters"
        assert "[router.tls] certificates re-read" in reconfigured.tech_info
        second = await connect_charge_point(url, "CP-2", "ocpp1.6", ssl_context=client)
        new_serial = second.ws.transport.get_extra_info("ssl_object").getpeercert()["serialNumber"]
        assert new_serial != old_serial
        assert (await first.cp.boot()).status == "Accepted"  # not dropped by the renewal
        for charger in (first, second):
            await charger.close()
    finally:
        await lc.stop()
