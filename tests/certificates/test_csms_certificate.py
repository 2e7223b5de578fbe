"""A CSMS whose certificate does not verify is its own state, not an unreachable CSMS: under
`hold` the charger stays connected and its messages are journaled, the state is a metric and
a line on the status page, and it ends when the CSMS presents a trusted certificate again."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest
from ocpp.v201 import call as call201

from lc.status_page import render
from lc.status_page.snapshot import StatusSnapshot
from router.offline import OfflineSettings
from router.server import Router
from router.settings import HoldSettings, RouterSettings
from router.tls import UpstreamTlsSettings, upstream_context
from tests.certificates.ca import TestCa, pem
from tests.peers import Csms, connect_charge_point, now_iso, wait_until

pytestmark = pytest.mark.timeout(90)


def _csms_context(ca: TestCa, folder: Path) -> ssl.SSLContext:
    folder.mkdir()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*ca.issue_server(folder))
    return context


def _sample(router: Router, name: str, labels: dict[str, str] | None = None) -> float | None:
    return router.metrics.registry.get_sample_value(name, labels)


async def test_an_untrusted_csms_certificate_holds_chargers_and_says_so(tmp_path: Path) -> None:
    trusted, rogue = TestCa("CSO Root"), TestCa("Somebody else")
    ca_file = tmp_path / "csms-ca.pem"
    ca_file.write_text(pem(trusted.root))
    csms = Csms(ssl_context=_csms_context(trusted, tmp_path / "trusted"))
    await csms.start()
    router = Router(
        RouterSettings(
            upstream_url=csms.url,
            listen_host="127.0.0.1",
            listen_port=0,
            upstream_ssl=upstream_context(UpstreamTlsSettings(ca=ca_file)),
            hold=HoldSettings(tmp_path / "journal.sqlite", OfflineSettings(redial_interval_s=0.1)),
        )
    )
    await router.start()
    charger = await connect_charge_point(f"ws://127.0.0.1:{router.port}", "CP-1", "ocpp2.0.1")
    try:
        assert (await charger.cp.boot()).status == "Accepted"
        assert not router.csms_certificate_invalid

        # The CSMS comes back at its address with a certificate the LC does not trust.
        await csms.stop()
        impostor = Csms(ssl_context=_csms_context(rogue, tmp_path / "rogue"))
        await impostor.start(csms.port)
        try:
            await wait_until(lambda: router.csms_certificate_invalid, 30, "the certificate failure")
            assert _sample(router, "ocpp_lc_csms_certificate_invalid") == 1
            failures = _sample(
                router, "ocpp_lc_upstream_connect_failures_total", {"reason": "csms_certificate"}
            )
            assert failures is not None and failures >= 1
            assert impostor.handshakes == []  # nothing reached it

            # The charger charges on: answered by the LC, its transaction journaled.
            started = await charger.cp.call(
                call201.TransactionEvent(
                    event_type="Started",
                    timestamp=now_iso(),
                    trigger_reason="CablePluggedIn",
                    seq_no=0,
                    transaction_info={"transactionId": "tx-1"},
                    evse={"id": 1, "connectorId": 1},
                )
            )
            assert started is not None
            assert router.journal is not None
            assert (await router.journal.backlog())["CP-1"][0] >= 1
        finally:
            await impostor.stop()

        page = render(StatusSnapshot(time.time(), [], [], None, csms_certificate_invalid=True))
        assert "CSMS certificate invalid" in page
        assert "CSMS certificate invalid" not in render(StatusSnapshot(time.time(), [], [], None))

        # The real CSMS again: the state ends and the backlog is delivered.
        await csms.start(csms.port)
        await wait_until(lambda: not router.csms_certificate_invalid, 30, "a trusted CSMS")
        assert _sample(router, "ocpp_lc_csms_certificate_invalid") == 0
        await wait_until(
            lambda: any('"tx-1"' in frame for frame in csms.received("CP-1")),
            30,
            "the journaled transaction at the CSMS",
        )
    finally:
        await charger.close()
        await router.stop()
        await csms.stop()
