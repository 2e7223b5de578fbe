"""`ocpp_lc_certificate_expiry_timestamp_seconds{use}` and the status page's certificates: every
certificate the LC presents or trusts, scraped from a running LC, and a root the CSMS installs
shows at the next scrape."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from certificates.trust_store import TrustStore
from lc.app import LocalController
from lc.config import load_config
from tests.certificates.ca import TestCa, pem
from tests.peers import Csms

SAMPLE = re.compile(r'^ocpp_lc_certificate_expiry_timestamp_seconds\{use="(\w+)"\} (\S+)$', re.M)


async def _get(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.text()


def _expiry(certificate: x509.Certificate) -> float:
    return certificate.not_valid_after_utc.timestamp()


async def test_every_certificate_the_lc_holds_has_its_expiry_on_metrics_and_the_page(
    csms: Csms, tmp_path: Path
) -> None:
    site_ca, charger_ca = TestCa("Site CA", intermediate=True), TestCa("Charger CA")
    server_certificate, server_key = site_ca.issue_server(tmp_path)
    charger_ca_file = tmp_path / "charger-ca.pem"
    charger_ca_file.write_text(pem(charger_ca.root))
    config_path = tmp_path / "site.toml"
    config_path.write_text(
        f'[router]\nupstream_url = "{csms.url}"\nlisten_host = "127.0.0.1"\nlisten_port = 0\n'
        'connection_loss = "close"\n'
        f'[router.tls]\ncertificate = "{server_certificate}"\nprivate_key = "{server_key}"\n'
        f'charger_ca = "{charger_ca_file}"\n'
        '[metrics]\nlisten_host = "127.0.0.1"\nlisten_port = 0\n'
        f'[certificates]\nfolder = "{tmp_path / "certificates"}"\norganization = "Test CSO"\n'
    )
    config = load_config(config_path)
    assert config.certificates is not None
    lc = LocalController(config, config_path)
    await lc.start()
    try:
        metrics = f"http://127.0.0.1:{lc.metrics_port}/metrics"
        [leaf] = x509.load_pem_x509_certificates(server_certificate.read_bytes())[:1]
        samples = {use: float(value) for use, value in SAMPLE.findall(await _get(metrics))}
        assert samples == {
            # The chain's first to expire: the leaf (a year) before the intermediate.
            "charger_server": _expiry(leaf),
            "charger_ca": _expiry(charger_ca.root),
        }
        csms_root = TestCa("CSMS root")
        store = TrustStore(config.certificates.trust_folder)
        store.install("CSMSRootCertificate", pem(csms_root.root), datetime.now(UTC))
        after_install = dict(SAMPLE.findall(await _get(metrics)))
        assert float(after_install["CSMSRootCertificate"]) == _expiry(csms_root.root)

        page = await _get(f"http://127.0.0.1:{lc.metrics_port}/")
        assert "<h2>Certificates</h2>" in page
        when = leaf.not_valid_after_utc.strftime("%Y-%m-%d")
        assert f"<td>charger_server</td><td>{when} (in 365 days)</td>" in page
    finally:
        await lc.stop()


def test_the_alert_fires_30_days_before_expiry(tmp_path: Path) -> None:
    """promtool's rule unit test: 31 days before expiry nothing, 29 days before the alert."""
    promtool = "promtool"
    rules = Path(__file__).resolve().parents[2] / "deploy" / "ocpp-lc-alerts.yml"
    day = 86400
    expires = 60 * day  # seconds after the test's time 0
    rule = rules.read_text().split("alert: OcppLcCertificateExpiresSoon", 1)[1]
    quoted = re.search(r"summary: (\".*\")", rule)
    assert quoted is not None
    summary = str(json.loads(quoted[1])).replace("{{ $labels.use }}", "charger_server")
    test_file = tmp_path / "expiry-test.yml"
    test_file.write_text(
        f"rule_files: [{rules}]\nevaluation_interval: 1d\ntests:\n"
        "  - interval: 1d\n    input_series:\n"
        "      - series: 'ocpp_lc_certificate_expiry_timestamp_seconds{use=\"charger_server\"}'\n"
        f"        values: '{expires}x60'\n"
        "    alert_rule_test:\n"
        "      - eval_time: 29d\n        alertname: OcppLcCertificateExpiresSoon\n"
        "        exp_alerts: []\n"
        "      - eval_time: 31d\n        alertname: OcppLcCertificateExpiresSoon\n"
        "        exp_alerts:\n          - exp_labels: {severity: warning, use: charger_server}\n"
        f"            exp_annotations: {{summary: {json.dumps(summary)}}}\n"
    )
    try:
        done = subprocess.run(
            [promtool, "test", "rules", str(test_file)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("promtool is not installed (Debian's prometheus package)")
    assert done.returncode == 0, done.stdout + done.stderr
