"""The LC's release file (a wheel and its manifest) and the releases folder: install side by
side, switch `current` on trial, confirm or roll back, keep the previous one."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from firmware.release_file import MANIFEST, ReleaseError, unpack_release, write_release
from firmware.releases import Releases, Trial


def _wheel(folder: Path, version: str, extra: dict[str, bytes] | None = None) -> Path:
    """A wheel of the LC as far as installing it goes: a package and its metadata."""
    path = folder / f"ocpp_local_controller-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("lc/__init__.py", f"VERSION = {version!r}\n")
        info = f"ocpp_local_controller-{version}.dist-info"
        archive.writestr(f"{info}/METADATA", f"Name: ocpp-local-controller\nVersion: {version}\n")
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return path


def _release(folder: Path, version: str) -> Path:
    out = folder / f"ocpp-lc-{version}.tar.gz"
    write_release(_wheel(folder, version), version, out)
    return out


def _rewrite(release: Path, change: dict[str, bytes]) -> None:
    """The release with members replaced (as an attacker on the way would)."""
    members: dict[str, bytes] = {}
    with tarfile.open(release) as tar:
        for member in tar.getmembers():
            file = tar.extractfile(member)
            assert file is not None
            members[member.name] = file.read()
    members |= change
    with tarfile.open(release, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def test_a_release_unpacks_into_its_folder_with_its_version(tmp_path: Path) -> None:
    release = _release(tmp_path, "0.2.0")
    manifest = unpack_release(release, tmp_path / "0.2.0")
    assert manifest.version == "0.2.0"
    assert (tmp_path / "0.2.0" / "lc" / "__init__.py").read_text() == "VERSION = '0.2.0'\n"


def test_a_wheel_that_does_not_match_the_manifest_is_refused(tmp_path: Path) -> None:
    release = _release(tmp_path, "0.2.0")
    wheel = tmp_path / "ocpp_local_controller-0.2.0-py3-none-any.whl"
    _rewrite(release, {wheel.name: wheel.read_bytes() + b"x"})
    with pytest.raises(ReleaseError, match="sha256"):
        unpack_release(release, tmp_path / "target")
    assert not (tmp_path / "target").exists()


@pytest.mark.parametrize(
    "manifest",
    [
        {"format": 1, "version": "../../etc", "wheel": "w.whl", "sha256": "0"},
        {"format": 1, "version": "current", "wheel": "w.whl", "sha256": "0"},
        {"format": 1, "version": "1.0", "wheel": "../w.whl", "sha256": "0"},
        {"format": 2, "version": "1.0", "wheel": "w.whl", "sha256": "0"},
        {"version": "1.0"},
    ],
)
def test_a_manifest_naming_paths_or_of_another_format_is_refused(
    tmp_path: Path, manifest: dict[str, object]
) -> None:
    release = _release(tmp_path, "0.2.0")
    _rewrite(release, {MANIFEST: json.dumps(manifest).encode()})
    with pytest.raises(ReleaseError):
        unpack_release(release, tmp_path / "target")


def test_a_wheel_with_a_member_outside_its_folder_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, "0.2.0", {"../escaped.py": b"x = 1\n"})
    release = tmp_path / "r.tar.gz"
    write_release(wheel, "0.2.0", release)
    with pytest.raises(ReleaseError, match="outside"):
        unpack_release(release, tmp_path / "target")
    assert not (tmp_path / "escaped.py").exists()


def test_not_a_release_at_all_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"MZ\x90\x00 not a tar")
    with pytest.raises(ReleaseError):
        unpack_release(junk, tmp_path / "target")


def _installed(releases: Releases, version: str) -> None:
    releases.path(version).mkdir()


def test_a_confirmed_trial_stays_current_and_only_the_previous_release_is_kept(
    tmp_path: Path,
) -> None:
    releases = Releases(tmp_path / "releases")
    releases.ensure()
    assert releases.current() is None  # the installed release runs
    for version, request_id in (("0.2.0", 1), ("0.3.0", 2), ("0.4.0", 3)):
        _installed(releases, version)
        releases.begin_trial(version, request_id, 60)
        assert releases.current() == version
        confirmed = releases.confirm()
        assert confirmed.candidate == version
    assert releases.trial() is None
    assert sorted(p.name for p in releases.folder.iterdir() if p.name[0].isdigit()) == [
        "0.3.0",
        "0.4.0",
    ]


def test_a_rolled_back_trial_points_current_back_and_is_reported_once(tmp_path: Path) -> None:
    releases = Releases(tmp_path / "releases")
    releases.ensure()
    _installed(releases, "0.2.0")
    releases.begin_trial("0.2.0", 1, 60)
    releases.confirm()
    _installed(releases, "0.3.0")
    releases.begin_trial("0.3.0", 7, 60)
    assert releases.trial() == Trial("0.3.0", "0.2.0", 7, 60)
    rolled_back = releases.roll_back()
    assert rolled_back is not None and rolled_back.candidate == "0.3.0"
    assert releases.current() == "0.2.0"
    assert not releases.path("0.3.0").exists()
    assert releases.take_failure() == Trial("0.3.0", "0.2.0", 7, 60)
    assert releases.take_failure() is None


def test_rolling_back_the_first_release_returns_to_the_installed_one(tmp_path: Path) -> None:
    releases = Releases(tmp_path / "releases")
    releases.ensure()
    _installed(releases, "0.2.0")
    releases.begin_trial("0.2.0", 1, 60)
    releases.roll_back()
    assert releases.current() is None and releases.current_path() is None
