"""GetLog on the LC's own link: the PyPI-ocpp CSMS asks for the security log or the recent log
lines, a server on 127.0.0.1 receives the file (multipart POST), and the CSMS hears every
LogStatusNotification."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call as call201

from lc.app import LocalController
from ocpp_knowledge.ocpp_time import to_ocpp_time
from tests.peers import wait_until
from tests.station.csms_for_lc import IDENTITY, CsmsForLc, accepted_lc, station_config
from tests.station.upload_server import UploadServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def lc(csms: CsmsForLc, tmp_path: Path) -> AsyncIterator[LocalController]:
    async with accepted_lc(station_config(csms, tmp_path)) as (controller, _link):
        yield controller


def _statuses(csms: CsmsForLc, request_id: int) -> list[str]:
    return [s["status"] for s in csms.log_statuses if s.get("request_id") == request_id]


async def _get_log(csms: CsmsForLc, log_type: str, request_id: int, **log: Any) -> Any:
    request = call201.GetLog(
        log=log, log_type=log_type, request_id=request_id, retries=2, retry_interval=0
    )
    return await csms.connected(IDENTITY).call(request)


def _time(timestamp: float) -> str:
    return to_ocpp_time(datetime.fromtimestamp(timestamp, UTC))


async def test_the_security_log_between_two_times_is_uploaded_with_its_statuses(
    csms: CsmsForLc, lc: LocalController, uploads: UploadServer
) -> None:
    record = lc.security.events.record
    for n in range(4):
        record("InvalidMessages", f"frame {n}")
        await asyncio.sleep(0.01)  # each event its own millisecond
    events = lc.security.events.log.events
    wanted = events[2:4]
    answer = await _get_log(
        csms,
        "SecurityLog",
        7,
        remote_location=uploads.url,
        oldest_timestamp=_time(wanted[0].timestamp),
        latest_timestamp=_time(wanted[-1].timestamp),
    )
    assert answer.status == "Accepted"
    await wait_until(lambda: "Uploaded" in _statuses(csms, 7), 10, "Uploaded")
    assert _statuses(csms, 7) == ["Uploading", "Uploaded"]
    [(name, content)] = uploads.files
    assert name == answer.filename
    assert name.startswith(f"{IDENTITY}-SecurityLog-7-")
    lines = [line.split("\t") for line in content.splitlines()]
    assert lines == [
        [_time(event.timestamp), "InvalidMessages", "-", event.tech_info] for event in wanted
    ]


async def test_the_diagnostics_log_is_the_lcs_recent_lines_without_credentials(
    csms: CsmsForLc, lc: LocalController, uploads: UploadServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("tests.get_log").info("header Authorization: Basic dXNlcjpzZWNyZXQ=")
    answer = await _get_log(csms, "DiagnosticsLog", 8, remote_location=uploads.url)
    assert answer.status == "Accepted"
    await wait_until(lambda: "Uploaded" in _statuses(csms, 8), 10, "Uploaded")
    [(_name, content)] = uploads.files
    assert "INFO tests.get_log: header Authorization: Basic ***" in content
    assert "dXNlcjpzZWNyZXQ=" not in content


async def test_a_failed_upload_is_retried_then_reported(
    csms: CsmsForLc, lc: LocalController, uploads: UploadServer, caplog: pytest.LogCaptureFixture
) -> None:
    uploads.failures = 10
    answer = await _get_log(csms, "SecurityLog", 9, remote_location=uploads.url)
    assert answer.status == "Accepted"
    await wait_until(lambda: "UploadFailure" in _statuses(csms, 9), 10, "UploadFailure")
    assert _statuses(csms, 9) == ["Uploading", "UploadFailure"]
    assert uploads.attempts == 3  # the first try and 2 retries
    tries = [r.getMessage() for r in caplog.records if "GetLog 9" in r.getMessage()]
    assert len(tries) == 3
    assert all("uploader:***@127.0.0.1" in line for line in tries)
    assert "secret" not in caplog.text  # the upload password stays out of the log


async def test_an_upload_that_fails_once_succeeds_on_its_retry(
    csms: CsmsForLc, lc: LocalController, uploads: UploadServer
) -> None:
    uploads.failures = 1
    assert (await _get_log(csms, "SecurityLog", 10, remote_location=uploads.url)).status == (
        "Accepted"
    )
    await wait_until(lambda: "Uploaded" in _statuses(csms, 10), 10, "Uploaded")
    assert uploads.attempts == 2
    assert "StartupOfTheDevice" in uploads.files[0][1]


async def test_a_new_get_log_cancels_the_upload_in_progress(
    csms: CsmsForLc, lc: LocalController, uploads: UploadServer
) -> None:
    uploads.hold = True
    assert (await _get_log(csms, "SecurityLog", 1, remote_location=uploads.url)).status == (
        "Accepted"
    )
    await wait_until(lambda: uploads.attempts == 1, 10, "the first upload under way")
    trigger = call201.TriggerMessage(requested_message="LogStatusNotification")
    assert (await csms.connected(IDENTITY).call(trigger)).status == "Accepted"
    await wait_until(lambda: _statuses(csms, 1) == ["Uploading", "Uploading"], 10, "triggered")
    uploads.hold = False
    second = await _get_log(csms, "SecurityLog", 2, remote_location=uploads.url)
    assert second.status == "AcceptedCanceled"
    await wait_until(lambda: "Uploaded" in _statuses(csms, 2), 10, "the second uploaded")
    assert _statuses(csms, 1) == ["Uploading", "Uploading", "AcceptedCanceled"]
    assert _statuses(csms, 2) == ["Uploading", "Uploaded"]
    assert [name for name, _ in uploads.files] == [second.filename]


async def test_get_log_is_rejected_for_a_location_or_range_it_cannot_serve(
    csms: CsmsForLc, lc: LocalController, uploads: UploadServer
) -> None:
    ftp = await _get_log(csms, "SecurityLog", 3, remote_location="ftp://127.0.0.1/logs")
    assert ftp.status == "Rejected"
    future = await _get_log(
        csms, "SecurityLog", 4, remote_location=uploads.url, oldest_timestamp="2099-01-01T00:00:00Z"
    )
    assert future.status == "Rejected"
    assert uploads.attempts == 0
    assert _statuses(csms, 3) == _statuses(csms, 4) == []
