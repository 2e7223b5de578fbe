"""The published firmware files on the LC's disk, within a size budget, and their index.

Each file lives at `<folder>/<checksum>/<name>`; `<folder>/index.json` lists them, so they
are served again after a restart. A download in progress is `<folder>/partial/<checksum>`,
kept between attempts so the next one resumes it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from firmware.publication import is_md5

log = logging.getLogger(__name__)

INDEX = "index.json"
DEFAULT_NAME = "firmware.bin"
_MAX_NAME = 128


class UnsafeName(ValueError):
    """A file name from a URL that would leave its folder or hide in it."""


@dataclass(frozen=True, slots=True)
class PublishedFile:
    checksum: str
    name: str
    size: int
    request_id: int


def file_name(location: str) -> str:
    """The name to publish a file under: the last segment of the URL's path, decoded once.

    The name ends up in a path on disk and in the URIs chargers fetch, so a name that could
    leave its folder (`..`, an encoded `/` or `\\`), a hidden name or a control character is
    refused rather than cleaned up: such a URL is an attack, not a typo.
    """
    segment = urlsplit(location).path.rsplit("/", 1)[-1]
    try:
        name = unquote(segment, errors="strict")
    except UnicodeDecodeError as exc:
        raise UnsafeName("file name is not UTF-8 once decoded") from exc
    if not name:
        return DEFAULT_NAME
    if (
        name.startswith(".")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name) > _MAX_NAME
    ):
        raise UnsafeName(f"file name {name[:_MAX_NAME]!r} is not a plain file name")
    return name


class FirmwareStore:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "partial").mkdir(exist_ok=True)
        self._files = {f.checksum: f for f in self._read_index()}

    def _read_index(self) -> list[PublishedFile]:
        try:
            entries = json.loads((self.folder / INDEX).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.error("firmware index %s unreadable (%s): nothing is published", INDEX, exc)
            return []
        files = []
        for entry in entries if isinstance(entries, list) else []:
            try:
                published = PublishedFile(**entry)
                # The index is on disk: what it names is checked like a request's names.
                file_name("/" + published.name)
                if not is_md5(published.checksum):
                    raise UnsafeName(f"checksum {published.checksum!r} is not an MD5")
            except (TypeError, UnsafeName) as exc:
                log.error("firmware index entry %r left out: %s", entry, exc)
                continue
            if self.path(published).is_file():
                files.append(published)
        return files

    def _write_index(self) -> None:
        entries = [asdict(f) for f in self._files.values()]
        temporary = self.folder / (INDEX + ".new")
        temporary.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        os.replace(temporary, self.folder / INDEX)

    def path(self, published: PublishedFile) -> Path:
        return self.folder / published.checksum / published.name

    def partial(self, checksum: str) -> Path:
        return self.folder / "partial" / checksum

    def get(self, checksum: str) -> PublishedFile | None:
        return self._files.get(checksum)

    def files(self) -> list[PublishedFile]:
        return list(self._files.values())

    def budget_for(self, checksum: str) -> int:
        """Bytes a new file with this checksum may take: the budget less the other files."""
        used = sum(f.size for f in self._files.values() if f.checksum != checksum)
        return max(0, self.max_bytes - used)

    def publish(self, checksum: str, name: str, request_id: int) -> PublishedFile:
        """Move the complete download of `checksum` to where it is served; raises OSError."""
        source = self.partial(checksum)
        published = PublishedFile(checksum, name, source.stat().st_size, request_id)
        self.unpublish(checksum)  # the same file published again, maybe under another name
        target = self.path(published)
        target.parent.mkdir(exist_ok=True)
        os.replace(source, target)
        self._files[checksum] = published
        self._write_index()
        return published

    def unpublish(self, checksum: str) -> bool:
        published = self._files.pop(checksum, None)
        if published is None:
            return False
        self._write_index()
        shutil.rmtree(self.folder / checksum, ignore_errors=True)
        return True

    def discard_partial(self, checksum: str) -> None:
        self.partial(checksum).unlink(missing_ok=True)
