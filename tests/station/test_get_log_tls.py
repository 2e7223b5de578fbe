"""GetLog to an https:// location (N01.FR.15/16): the PyPI-ocpp CSMS installs its root with
InstallCertificate, and the LC then trusts an upload server whose certificate that root signed;
before, the upload fails (the system's CAs do not know it)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v201 import call as call201

from lc.app import LocalController
from tests.certificates.ca import TestCa, pem
from tests.peers import wait_until
from tests.station.csms_for_lc import IDENTITY, CsmsForLc, accepted_lc, station_config
from tests.station.upload_server import UploadServer, upload_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cso() -> TestCa:
    return TestCa("CSO Root")


@pytest.fixture
async def https_uploads(cso: TestCa, tmp_path: Path) -> AsyncIterator[UploadServer]:
    (tmp_path / "upload-server").mkdir()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*cso.issue_server(tmp_path / "upload-server"))
    async with upload_server(tls) as server:
        yield server


@pytest.fixture
async def lc(csms: CsmsForLc, tmp_path: Path) -> AsyncIterator[LocalController]:
    config = station_config(csms, tmp_path)
    config["certificates"] = {"folder": str(tmp_path / "certificates"), "organization": "Test CSO"}
    async with accepted_lc(config) as (controller, _link):
        yield controller


async def _install(csms: CsmsForLc, certificate_type: str, ca: TestCa) -> None:
    install = call201.InstallCertificate(
        certificate_type=certificate_type, certificate=pem(ca.root)
    )
    assert (await csms.station.call(install)).status == "Accepted"


async def _upload(csms: CsmsForLc, uploads: UploadServer, request_id: int) -> str:
    """The last LogStatusNotification status of a SecurityLog upload to `uploads`."""
    request = call201.GetLog(
        log={"remote_location": uploads.url},
        log_type="SecurityLog",
        request_id=request_id,
        retries=0,
    )
    assert (await csms.connected(IDENTITY).call(request)).status == "Accepted"

    def last() -> str | None:
        statuses = [s["status"] for s in csms.log_statuses if s.get("request_id") == request_id]
        return statuses[-1] if statuses and statuses[-1] != "Uploading" else None

    await wait_until(lambda: last() is not None, 20, "the upload's outcome")
    outcome = last()
    assert outcome is not None
    return outcome


async def test_an_upload_server_signed_by_an_installed_csms_root_is_trusted(
    csms: CsmsForLc, lc: LocalController, cso: TestCa, https_uploads: UploadServer
) -> None:
    assert await _upload(csms, https_uploads, 1) == "UploadFailure"
    # A root of another use (here: for firmware signatures) is no anchor for uploads.
    await _install(csms, "ManufacturerRootCertificate", cso)
    assert await _upload(csms, https_uploads, 2) == "UploadFailure"
    assert https_uploads.files == []
    await _install(csms, "CSMSRootCertificate", cso)
    assert await _upload(csms, https_uploads, 3) == "Uploaded"
    [(_name, content)] = https_uploads.files
    assert "StartupOfTheDevice" in content
