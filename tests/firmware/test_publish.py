"""PublishFirmware and UnpublishFirmware end to end (L03/L04): the LC downloads from a server
on 127.0.0.1, checks the MD5 and serves the file; PyPI-`ocpp` chargers of both versions,
connected through the LC's router and told by a PyPI-`ocpp` CSMS to UpdateFirmware from the
LC's URI, download it from the LC."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from firmware.publisher import FirmwarePublisher
from firmware.server import FileServer
from firmware.store import FirmwareStore
from router.tls import ChargerTlsSettings, charger_context
from supervision.tasks import REGISTRY as TASKS_REGISTRY
from tests.conftest import RouterFactory, lc_url
from tests.firmware.origin import (
    FIRMWARE,
    MD5,
    Origin,
    notices_until_over,
    origin_server,
    stalled_download,
)
from tests.peers import Csms, connect_charge_point, wait_until
from tests.router.test_tls import Pki

pytestmark = pytest.mark.timeout(90)


@dataclass
class Publishing:
    store: FirmwareStore
    server: FileServer
    publisher: FirmwarePublisher
    registry: CollectorRegistry
    security_events: list[tuple[str, str]] = field(default_factory=list)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def publishing(
    folder: Path, max_bytes: int = 16 * 2**20, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Publishing]:
    """The LC's firmware side: store, file server on 127.0.0.1 and publisher."""
    registry = CollectorRegistry()
    store = FirmwareStore(folder, max_bytes)
    server = FileServer(store, "127.0.0.1", registry)
    await server.listen("http", "127.0.0.1", 0)
    if tls is not None:
        await server.listen("https", "127.0.0.1", 0, tls)
    events: list[tuple[str, str]] = []
    publisher = FirmwarePublisher(
        store, server, registry, lambda kind, detail: events.append((kind, detail))
    )
    try:
        yield Publishing(store, server, publisher, registry, events)
    finally:
        await publisher.close()
        await server.stop()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
async def origin(firmware_file: Path) -> AsyncIterator[Origin]:
    async with origin_server(firmware_file) as server:
        yield server


def _payload(location: str, checksum: str = MD5, **more: Any) -> dict[str, Any]:
    return {"location": location, "checksum": checksum, "requestId": 11} | more


async def _published(lc: Publishing, location: str) -> list[str]:
    """Publish `location`; the URIs it is served at."""
    assert lc.publisher.publish_firmware(_payload(location)) == {"status": "Accepted"}
    notices = await notices_until_over(lc.publisher)
    statuses = [n["status"] for n in notices]
    assert statuses == ["Downloading", "Downloaded", "ChecksumVerified", "Published"]
    assert all(n["requestId"] == 11 for n in notices)
    uris: list[str] = notices[-1]["location"]
    return uris


async def _fetch(url: str, tls: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, ssl=tls or True) as response:
        return response.status, await response.read()


async def test_published_firmware_is_downloaded_by_chargers_of_both_versions_through_the_lc(
    tmp_path: Path, origin: Origin, csms: Csms, make_router: RouterFactory
) -> None:
    async with publishing(tmp_path / "firmware") as lc:
        [uri] = await _published(lc, f"{origin.base_url}/fw.bin")
        assert uri.startswith("http://127.0.0.1:") and uri.endswith(f"/firmware/{MD5}/fw.bin")
        assert (tmp_path / "firmware" / MD5 / "fw.bin").read_bytes() == FIRMWARE

        router = await make_router(csms.url)
        charger16 = await connect_charge_point(lc_url(router), "CP-16", "ocpp1.6")
        charger201 = await connect_charge_point(lc_url(router), "CP-201", "ocpp2.0.1")
        try:
            await charger16.cp.boot()
            await charger201.cp.boot()
            await csms.update_firmware("CP-16", uri)
            await csms.update_firmware("CP-201", uri)
            await charger16.cp.transfers.finished()
            await charger201.cp.transfers.finished()
        finally:
            await charger16.close()
            await charger201.close()
        assert charger16.cp.firmware == [FIRMWARE] and charger201.cp.firmware == [FIRMWARE]
        assert lc.metric("ocpp_lc_firmware_fetches_total", file=f"{MD5}/fw.bin", outcome="sent")
        assert lc.metric("ocpp_lc_firmware_publications_total", status="Published") == 1


async def test_a_wrong_checksum_is_reported_and_nothing_is_published(
    tmp_path: Path, origin: Origin
) -> None:
    async with publishing(tmp_path / "firmware") as lc:
        wrong = "0" * 32
        payload = _payload(f"{origin.base_url}/fw.bin", checksum=wrong)
        assert lc.publisher.publish_firmware(payload) == {"status": "Accepted"}
        statuses = [n["status"] for n in await notices_until_over(lc.publisher)]
        assert statuses == ["Downloading", "Downloaded", "InvalidChecksum"]
        assert lc.store.get(wrong) is None
        assert not any((tmp_path / "firmware" / "partial").iterdir())
        assert lc.publisher.unpublish_firmware({"checksum": wrong}) == {"status": "NoFirmware"}


async def test_failed_attempts_are_retried_and_a_broken_download_resumes(
    tmp_path: Path, origin: Origin
) -> None:
    async with publishing(tmp_path / "firmware") as lc:
        origin.failures_left = 2
        payload = _payload(f"{origin.base_url}/flaky.bin", retries=2, retryInterval=0)
        assert lc.publisher.publish_firmware(payload) == {"status": "Accepted"}
        assert (await notices_until_over(lc.publisher))[-1]["status"] == "Published"

        lc.store.unpublish(MD5)
        origin.ranges.clear()
        payload = _payload(f"{origin.base_url}/broken.bin", retries=1, retryInterval=0)
        assert lc.publisher.publish_firmware(payload) == {"status": "Accepted"}
        partial = lc.store.partial(MD5)
        half = len(FIRMWARE) // 2
        await wait_until(lambda: partial.exists() and partial.stat().st_size == half, 30)
        origin.drop_link.set()
        uri = (await notices_until_over(lc.publisher))[-1]["location"][0]
        # The second attempt asked only for what the first one did not bring.
        assert origin.ranges == [None, f"bytes={half}-"]
        assert await _fetch(uri) == (200, FIRMWARE)

        origin.failures_left = 2
        payload = _payload(f"{origin.base_url}/flaky.bin", retries=1, retryInterval=0)
        assert lc.publisher.publish_firmware(payload) == {"status": "Accepted"}
        statuses = [n["status"] for n in await notices_until_over(lc.publisher)]
        assert statuses == ["Downloading", "DownloadFailed"]


@pytest.mark.parametrize("path", ["/fw.bin", "/unannounced.bin"], ids=["announced", "streamed"])
async def test_a_file_beyond_the_budget_is_refused_with_a_security_event(
    tmp_path: Path, origin: Origin, path: str
) -> None:
    async with publishing(tmp_path / "firmware", max_bytes=len(FIRMWARE) - 1) as lc:
        assert lc.publisher.publish_firmware(_payload(origin.base_url + path)) == {
            "status": "Accepted"
        }
        statuses = [n["status"] for n in await notices_until_over(lc.publisher)]
        assert statuses == ["Downloading", "DownloadFailed"]
        [(kind, _)] = lc.security_events
        assert kind == "FirmwareTooLarge"
        assert not any((tmp_path / "firmware" / "partial").iterdir())


@pytest.mark.parametrize("name", ["..%2F..%2Fetc%2Fpasswd", ".hidden", "a%5Cb", "x%00y"])
async def test_a_name_that_would_leave_the_folder_is_refused_before_any_download(
    tmp_path: Path, origin: Origin, name: str
) -> None:
    async with publishing(tmp_path / "firmware") as lc:
        answer = lc.publisher.publish_firmware(_payload(f"{origin.base_url}/{name}"))
        assert answer["status"] == "Rejected"
        [(kind, _)] = lc.security_events
        assert kind == "FirmwareFileNameRefused"
        assert origin.ranges == [] and lc.publisher.notices.empty()


async def test_unpublish_waits_for_a_charger_downloading_then_removes_the_file(
    tmp_path: Path, firmware_file: Path
) -> None:
    # Larger than what the kernel buffers between the LC and a charger that stops reading.
    large = FIRMWARE * 12
    await asyncio.to_thread(firmware_file.write_bytes, large)
    checksum = hashlib.md5(large, usedforsecurity=False).hexdigest()
    async with (
        origin_server(firmware_file) as origin,
        publishing(tmp_path / "firmware", max_bytes=64 * 2**20) as lc,
    ):
        payload = _payload(f"{origin.base_url}/fw.bin", checksum=checksum)
        assert lc.publisher.publish_firmware(payload) == {"status": "Accepted"}
        [uri] = (await notices_until_over(lc.publisher))[-1]["location"]
        host, port = "127.0.0.1", int(uri.split(":")[2].split("/")[0])
        stalled = await stalled_download(host, port, uri.split(str(port), 1)[1])
        try:
            await wait_until(lambda: lc.server.downloading(checksum), 10, "a download running")
            answer = lc.publisher.unpublish_firmware({"checksum": checksum})
            assert answer == {"status": "DownloadOngoing"}
            assert lc.store.get(checksum) is not None
        finally:
            stalled.close()
        await wait_until(lambda: not lc.server.downloading(checksum), 30, "the download over")
        broken_off = {"file": f"{checksum}/fw.bin", "outcome": "broken_off"}
        assert lc.metric("ocpp_lc_firmware_fetches_total", **broken_off) == 1
        assert lc.publisher.unpublish_firmware({"checksum": checksum}) == {"status": "Unpublished"}
        assert (await _fetch(uri))[0] == 404
        assert not (tmp_path / "firmware" / checksum).exists()
        assert lc.publisher.unpublish_firmware({"checksum": checksum}) == {"status": "NoFirmware"}


async def test_published_files_are_served_again_after_a_restart_over_http_and_https(
    tmp_path: Path, origin: Origin, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "firmware"
    async with publishing(folder) as lc:
        [uri] = await _published(lc, f"{origin.base_url}/fw.bin")
    certificate = pki.issue("127.0.0.1", "lc-server", server=True)
    tls = charger_context(ChargerTlsSettings((certificate,), None))
    async with publishing(folder, tls=tls) as restarted:
        assert [f.checksum for f in restarted.store.files()] == [MD5]
        [published] = restarted.store.files()
        http_uri, https_uri = restarted.server.uris(published)
        assert http_uri.split("/", 3)[3] == uri.split("/", 3)[3]  # the same path
        assert await _fetch(http_uri) == (200, FIRMWARE)
        # A charger whose download broke resumes it.
        headers = {"Range": "bytes=1000-"}
        async with aiohttp.ClientSession() as http, http.get(http_uri, headers=headers) as resumed:
            assert (resumed.status, await resumed.read()) == (206, FIRMWARE[1000:])
        trusting = ssl.create_default_context(cafile=pki.ca)
        assert https_uri.startswith("https://")
        assert await _fetch(https_uri, trusting) == (200, FIRMWARE)
    # Every fetch was served once, without an error in the server.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_a_full_disk_is_download_failed_with_a_security_event(
    tmp_path: Path, origin: Origin
) -> None:
    async with publishing(tmp_path / "firmware") as lc:
        # The download's file is the kernel's full device: every write fails with ENOSPC.
        lc.store.partial(MD5).symlink_to("/dev/full")
        assert lc.publisher.publish_firmware(_payload(f"{origin.base_url}/fw.bin")) == {
            "status": "Accepted"
        }
        statuses = [n["status"] for n in await notices_until_over(lc.publisher)]
        assert statuses == ["Downloading", "DownloadFailed"]
        [(kind, detail)] = lc.security_events
        assert kind == "FirmwareDiskFull" and "disk is full" in detail
        assert lc.store.get(MD5) is None


async def test_a_password_in_the_location_stays_out_of_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with publishing(tmp_path / "firmware") as lc:
        # A port no TCP has: aiohttp's error repeats the whole URL, password included.
        location = "http://lc:s3cret@127.0.0.1:99999/fw.bin"
        assert lc.publisher.publish_firmware(_payload(location)) == {"status": "Accepted"}
        statuses = [n["status"] for n in await notices_until_over(lc.publisher)]
        assert statuses == ["Downloading", "DownloadFailed"]
    assert "firmware download 11 failed" in caplog.text
    assert "s3cret" not in caplog.text


async def test_a_second_request_while_one_downloads_is_rejected(
    tmp_path: Path, origin: Origin
) -> None:
    async with publishing(tmp_path / "firmware") as lc:
        slow = _payload(f"{origin.base_url}/broken.bin", retries=1, retryInterval=0)
        assert lc.publisher.publish_firmware(slow) == {"status": "Accepted"}
        await wait_until(lambda: origin.ranges == [None], 30, "the download under way")
        answer = lc.publisher.publish_firmware(_payload(f"{origin.base_url}/fw.bin"))
        assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"] == "Busy"
        origin.drop_link.set()
        assert (await notices_until_over(lc.publisher))[-1]["status"] == "Published"
        assert lc.publisher.publish_firmware(_payload(f"{origin.base_url}/fw.bin")) == {
            "status": "Accepted"
        }
        assert (await notices_until_over(lc.publisher))[-1]["status"] == "Published"


async def test_a_crash_in_the_download_is_counted_as_a_task_failure(
    tmp_path: Path, origin: Origin
) -> None:
    def failing_security_log(kind: str, detail: str) -> None:
        raise RuntimeError(f"the security log is broken ({kind})")

    failures = {"task": "firmware download"}
    before = TASKS_REGISTRY.get_sample_value("ocpp_lc_task_failures_total", failures) or 0.0
    registry = CollectorRegistry()
    store = FirmwareStore(tmp_path / "firmware", len(FIRMWARE) - 1)
    server = FileServer(store, "127.0.0.1", registry)
    publisher = FirmwarePublisher(store, server, registry, failing_security_log)
    try:
        # Too large: the refusal's security event raises inside the download task.
        assert publisher.publish_firmware(_payload(f"{origin.base_url}/fw.bin")) == {
            "status": "Accepted"
        }
        await wait_until(
            lambda: (
                TASKS_REGISTRY.get_sample_value("ocpp_lc_task_failures_total", failures)
                == before + 1
            ),
            30,
            "the crash counted",
        )
    finally:
        await publisher.close()
