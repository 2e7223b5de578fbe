"""`scripts/lc csr`: a new key (0600) and a request for the LC's server certificate; signed by a
site CA and put where [router.tls] points, SIGHUP gives it to new charger connections."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from config_file.table import ConfigError
from lc.app import LocalController
from lc.cli import main
from lc.config import load_config
from tests.certificates.ca import TestCa, pem
from tests.lc_process import example_config
from tests.peers import Csms, connect_charge_point

CERTIFICATES = (
    '[certificates]\nfolder = "{folder}"\norganization = "Garage Operator"\n'
    'server_common_name = "127.0.0.1"\n'
)


def _config(tmp_path: Path, csms_url: str, extra: str = "") -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        f'[router]\nupstream_url = "{csms_url}"\nlisten_host = "127.0.0.1"\nlisten_port = 0\n'
        'connection_loss = "close"\n'
        + extra
        + "[metrics]\nlisten_port = 0\n"
        + CERTIFICATES.format(folder=tmp_path / "certificates")
    )
    return path


def test_csr_writes_a_private_key_and_a_request_with_the_servers_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "ws://127.0.0.1:1")
    out = tmp_path / "request"
    out.mkdir()
    assert main(["csr", "--config", str(config), "--out", str(out)]) == 0
    key_file, csr_file = out / "lc-server.key", out / "lc-server.csr"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "PRIVATE" not in capsys.readouterr().out  # the command names the file, nothing more
    request = x509.load_pem_x509_csr(csr_file.read_bytes())
    assert request.is_signature_valid
    subject = {attribute.oid: attribute.value for attribute in request.subject}
    assert subject == {
        NameOID.COMMON_NAME: "127.0.0.1",
        NameOID.ORGANIZATION_NAME: "Garage Operator",
    }
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert key.public_key() == request.public_key()
    # A second request never overwrites the key (it may be the one in use).
    written = key_file.read_bytes()
    assert main(["csr", "--config", str(config), "--out", str(out)]) == 2
    assert key_file.read_bytes() == written


async def test_the_signed_request_applies_on_reload(csms: Csms, tmp_path: Path) -> None:
    site_ca = TestCa("Site CA")
    first_certificate, first_key = site_ca.issue_server(tmp_path)
    tls = f'[router.tls]\ncertificate = "{first_certificate}"\nprivate_key = "{first_key}"\n'
    config = _config(tmp_path, csms.url, tls)
    out = tmp_path / "request"
    out.mkdir()
    assert main(["csr", "--config", str(config), "--out", str(out)]) == 0

    lc = LocalController(load_config(config), config)
    await lc.start()
    try:
        client = ssl.create_default_context(cadata=pem(site_ca.root))
        url = f"wss://127.0.0.1:{lc.router.port}"
        before = await connect_charge_point(url, "CP-1", "ocpp2.0.1", ssl_context=client)
        request = x509.load_pem_x509_csr((out / "lc-server.csr").read_bytes())
        signed = site_ca.sign(request)
        # The installer puts the signed certificate and the new key where the config points.
        first_certificate.write_text(pem(signed))
        (out / "lc-server.key").replace(first_key)
        await lc.reload()
        after = await connect_charge_point(url, "CP-2", "ocpp2.0.1", ssl_context=client)
        served = after.ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert x509.load_der_x509_certificate(served) == signed
        assert (await before.cp.boot()).status == "Accepted"  # not dropped
        for charger in (before, after):
            await charger.close()
    finally:
        await lc.stop()


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('key_type = "dsa-1024"\n', "certificates.key_type"),
        ("renew_days = 0\n", "certificates.renew_days"),
        ("cert_signing_repeat_time = 3\n", "certificates.cert_signing_repeat_time"),
    ],
)
def test_check_config_names_the_certificates_key_at_fault(
    tmp_path: Path, line: str, named: str
) -> None:
    config = _config(tmp_path, "ws://127.0.0.1:1")
    config.write_text(config.read_text() + line)
    with pytest.raises(ConfigError, match=named):
        load_config(config)


def test_the_certificates_folder_needs_its_parent(tmp_path: Path) -> None:
    config = _config(tmp_path, "ws://127.0.0.1:1")
    config.write_text(config.read_text().replace('certificates"', 'no/such/folder"'))
    with pytest.raises(ConfigError, match=r"certificates\.folder"):
        load_config(config)


def test_the_example_configs_certificates_section_is_valid_when_uncommented(
    tmp_path: Path,
) -> None:
    text = example_config(tmp_path).read_text(encoding="utf-8")
    start = text.index("# [certificates]\n")
    end = text.index("\n\n", start)
    # Every setting line of the section, uncommented; comments stay comments.
    section = [
        line.removeprefix("# ")
        for line in text[start:end].splitlines()
        if line.startswith("# [") or " = " in line
    ]
    uncommented = text[:start] + "\n".join(section) + text[end:]
    uncommented = uncommented.replace("/var/lib/ocpp-lc/certificates", str(tmp_path / "certs"))
    path = tmp_path / "uncommented.toml"
    path.write_text(uncommented, encoding="utf-8")
    certificates = load_config(path).certificates
    assert certificates is not None
    assert certificates.server_common_name == "lc.garage.example.net"
    assert certificates.cert_signing_repeat_times == 3
