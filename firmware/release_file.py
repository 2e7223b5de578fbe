"""The LC's release file: what `scripts/release` writes and the LC installs over the air.

A gzip'd tar with two members:
    manifest.json   {"format": 1, "version": "0.2.0", "wheel": "<the wheel's name>",
                     "sha256": "<hex SHA-256 of the wheel>"}
    <the wheel>     the LC's wheel (its packages only; the dependencies stay those installed)
The whole file is signed (2.0.1 L01: `firmware.signature`, with the signing certificate).
Reading it trusts nothing in it before the signature was checked, and even then unpacks no
member outside its folder.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from firmware.releases import valid_version

MANIFEST = "manifest.json"
FORMAT = 1
# Beyond these the file is not a release of the LC (the wheel is well under a megabyte).
MAX_MANIFEST_BYTES = 4096
MAX_WHEEL_BYTES = 50 * 1024 * 1024


class ReleaseError(ValueError):
    """Not a release file of the LC, or one whose content does not match its manifest."""


@dataclass(frozen=True, slots=True)
class Manifest:
    version: str
    wheel: str
    sha256: str


def write_release(wheel: Path, version: str, out: Path) -> Manifest:
    """Write the release file `out` around `wheel`."""
    data = wheel.read_bytes()
    manifest = Manifest(version, wheel.name, hashlib.sha256(data).hexdigest())
    fields = {"version": version, "wheel": wheel.name, "sha256": manifest.sha256}
    text = json.dumps({"format": FORMAT, **fields}, indent=1).encode()
    with tarfile.open(out, "w:gz") as tar:
        for name, content in ((MANIFEST, text), (wheel.name, data)):
            member = tarfile.TarInfo(name)
            member.size = len(content)
            member.mode = 0o644
            tar.addfile(member, io.BytesIO(content))
    return manifest


def sign_file(path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """The base64 signature of the whole file, as UpdateFirmware's `signature` carries it."""
    digest = hashlib.sha256(path.read_bytes()).digest()
    prehashed = Prehashed(hashes.SHA256())
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        raw = key.sign(digest, pss, prehashed)
    else:
        raw = key.sign(digest, ec.ECDSA(prehashed))
    return base64.b64encode(raw).decode()


def unpack_release(path: Path, target: Path) -> Manifest:
    """Unpack the release's wheel into the new folder `target`; its manifest."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            manifest = _manifest(_member(tar, MANIFEST, MAX_MANIFEST_BYTES))
            wheel = _member(tar, manifest.wheel, MAX_WHEEL_BYTES)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ReleaseError(f"not a release file: {exc}") from exc
    if hashlib.sha256(wheel).hexdigest() != manifest.sha256:
        raise ReleaseError("the wheel does not match the manifest's sha256")
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            names = archive.namelist()
            if not any(name.endswith(".dist-info/METADATA") for name in names):
                raise ReleaseError("the wheel has no metadata")
            for name in names:
                parts = PurePosixPath(name).parts
                if name.startswith("/") or ".." in parts or "\\" in name:
                    raise ReleaseError(f"the wheel has a member outside its folder: {name!r}")
            target.mkdir(mode=0o700)
            archive.extractall(target)
    except zipfile.BadZipFile as exc:
        raise ReleaseError(f"the wheel is not a zip file: {exc}") from exc
    return manifest


def _member(tar: tarfile.TarFile, name: str, max_bytes: int) -> bytes:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise ReleaseError(f"no {name} in the release") from None
    if not member.isfile() or member.size > max_bytes:
        raise ReleaseError(f"{name}: not a file of at most {max_bytes} bytes")
    extracted = tar.extractfile(member)
    assert extracted is not None  # a regular file
    return extracted.read()


def _manifest(text: bytes) -> Manifest:
    try:
        data = json.loads(text)
        manifest = Manifest(str(data["version"]), str(data["wheel"]), str(data["sha256"]))
        known = data["format"] == FORMAT
    except (ValueError, KeyError, TypeError) as exc:
        raise ReleaseError(f"{MANIFEST} unreadable: {exc}") from exc
    if not known:
        raise ReleaseError(f"{MANIFEST}: format {data['format']!r}, expected {FORMAT}")
    if not valid_version(manifest.version):
        raise ReleaseError(f"{MANIFEST}: not a release version: {manifest.version!r}")
    if "/" in manifest.wheel or not manifest.wheel.endswith(".whl"):
        raise ReleaseError(f"{MANIFEST}: not a wheel's name: {manifest.wheel!r}")
    return manifest
