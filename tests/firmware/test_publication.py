"""The PublishFirmware state machine alone: which notifications, in which order, and when
to try again (L03)."""

from __future__ import annotations

from typing import Any

import pytest

from firmware.publication import BadRequest, Publication, PublishRequest

MD5 = "0123456789abcdef0123456789ABCDEF"


def _request(**changes: Any) -> PublishRequest:
    payload: dict[str, Any] = {
        "location": "http://127.0.0.1/fw.bin",
        "checksum": MD5,
        "requestId": 5,
        "retries": 2,
        "retryInterval": 30,
    }
    return PublishRequest.from_payload(payload | changes)


def _statuses(notices: list[dict[str, Any]]) -> list[str]:
    assert all(n["requestId"] == 5 for n in notices)
    return [n["status"] for n in notices]


def test_a_file_with_the_right_checksum_is_published_with_its_uris() -> None:
    publication = Publication(_request())
    assert _statuses(publication.begin()) == ["Downloading"]
    assert _statuses(publication.downloaded(MD5.lower())) == ["Downloaded", "ChecksumVerified"]
    uris = ["http://10.0.0.2:8080/firmware/x/fw.bin", "https://10.0.0.2:8443/firmware/x/fw.bin"]
    [published] = publication.published(uris)
    assert published == {"status": "Published", "requestId": 5, "location": uris}
    assert publication.over
    # A TriggerMessage after Published gets Idle (L03.FR.10).
    assert publication.triggered() == {"status": "Idle", "requestId": 5}


def test_a_wrong_checksum_ends_it_and_nothing_is_published() -> None:
    publication = Publication(_request())
    publication.begin()
    assert _statuses(publication.downloaded("f" * 32)) == ["Downloaded", "InvalidChecksum"]
    assert publication.over
    assert publication.triggered()["status"] == "InvalidChecksum"  # L03.FR.11
    with pytest.raises(RuntimeError):
        publication.published(["http://x/"])


def test_failed_attempts_are_retried_as_often_and_as_late_as_asked() -> None:
    publication = Publication(_request())
    publication.begin()
    assert publication.attempt_failed(100.0) == ([], 130.0)
    assert publication.attempt_failed(130.0) == ([], 160.0)
    notices, retry_at = publication.attempt_failed(160.0)
    assert _statuses(notices) == ["DownloadFailed"] and retry_at is None
    assert publication.over


def test_a_refusal_while_downloading_is_download_failed() -> None:
    publication = Publication(_request(retries=5))
    publication.begin()
    assert _statuses(publication.refused("DownloadFailed")) == ["DownloadFailed"]
    with pytest.raises(RuntimeError):
        publication.refused("PublishFailed")


@pytest.mark.parametrize(
    "changes",
    [{"checksum": "not-an-md5"}, {"retries": -1}, {"retryInterval": 1.5}, {"requestId": True}],
)
def test_payloads_the_lc_cannot_act_on(changes: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        _request(**changes)
