"""The security log over a 1.6 link (the 1.6 security extension's SecurityEventNotification,
GetLog and LogStatusNotification), with the PyPI `ocpp` package's v16 CSMS."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocpp.v16 import call as call16

from tests.peers import wait_until
from tests.station.csms16_for_lc import CsmsForLc16
from tests.station.csms_for_lc import accepted_lc, station_config
from tests.station.upload_server import UploadServer

pytestmark = pytest.mark.timeout(60)


def _statuses(csms: CsmsForLc16, request_id: int) -> list[str]:
    return [s["status"] for s in csms.log_statuses if s.get("request_id") == request_id]


async def test_critical_events_and_get_log_over_a_1_6_link(
    csms16: CsmsForLc16,
    tmp_path: Path,
    uploads: UploadServer,
) -> None:
    config = station_config(csms16, tmp_path, ocpp_version="1.6")
    async with accepted_lc(config) as (_lc, _link):
        await wait_until(
            lambda: [e["type"] for e in csms16.security_events] == ["StartupOfTheDevice"],
            10,
            "the start-up at the 1.6 CSMS",
        )
        uploads.hold = True
        first = call16.GetLog(
            log={"remote_location": uploads.url}, log_type="SecurityLog", request_id=1
        )
        assert (await csms16.station16.call(first)).status == "Accepted"
        await wait_until(lambda: uploads.attempts == 1, 10, "the first upload under way")
        uploads.hold = False
        second = call16.GetLog(
            log={"remote_location": uploads.url}, log_type="SecurityLog", request_id=2
        )
        assert (await csms16.station16.call(second)).status == "AcceptedCanceled"
        await wait_until(lambda: "Uploaded" in _statuses(csms16, 2), 10, "the second uploaded")
        # 1.6 has no AcceptedCanceled status: the cancelled upload's last word is Uploading.
        assert _statuses(csms16, 1) == ["Uploading"]
        assert _statuses(csms16, 2) == ["Uploading", "Uploaded"]
        [(_name, content)] = uploads.files
        assert "\tStartupOfTheDevice\tcritical\t" in content


async def test_a_get_log_the_lc_cannot_serve_is_rejected_in_1_6_words(
    csms16: CsmsForLc16, tmp_path: Path
) -> None:
    """1.6's GetLog.conf has no statusInfo: a plain Rejected, not an error."""
    async with accepted_lc(station_config(csms16, tmp_path, ocpp_version="1.6")):
        over_ftp = call16.GetLog(
            log={"remote_location": "ftp://127.0.0.1/logs"}, log_type="SecurityLog", request_id=3
        )
        assert (await csms16.station16.call(over_ftp)).status == "Rejected"
