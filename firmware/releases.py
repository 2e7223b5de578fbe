"""The LC's own releases, side by side in one folder (its state folder's `releases`):

    releases/0.2.0/     one release: its wheel unpacked (the LC's packages and dist-info)
    releases/0.1.0/     the previous one, kept for a rollback
    releases/current    symlink to the release the launcher starts; none: the installed one
    releases/trial.json a release switched to and not yet confirmed (connected to the CSMS)
    releases/failed.json a trial rolled back: the release that failed, for the CSMS to hear
    releases/last-update.json the last UpdateFirmware of the LC, for the status page

The running LC installs a release and begins its trial; the new process confirms it once the
CSMS accepted its boot; the launcher rolls it back when it ends or runs out of time first.
The dependencies (aiohttp, ...) are those of the installation the launcher runs from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from config_file.private_file import write_private
from firmware.self_update import UpdateRecord

FOLDER = "releases"
CURRENT = "current"
TRIAL = "trial.json"
FAILED = "failed.json"
LAST_UPDATE = "last-update.json"
INCOMING = "incoming"  # downloads and unpacking under way
# A version is a folder name: no path separators, nothing that looks like the files above.
VERSION_PATTERN = re.compile(r"\d[0-9A-Za-z.+_-]{0,63}")


def valid_version(version: str) -> bool:
    return VERSION_PATTERN.fullmatch(version) is not None


@dataclass(frozen=True, slots=True)
class Trial:
    candidate: str
    previous: str | None  # None: the installed release (no `current` link)
    # The signed update's, for the status notifications after it.
    request_id: int
    bound_s: float  # how long the candidate has to connect to the CSMS


class Releases:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def ensure(self) -> None:
        """The folder, the LC's user's alone: what is in it runs as the LC (chmod too: a folder
        an installer made with a wider mode)."""
        for folder in (self.folder, self.folder / INCOMING):
            folder.mkdir(mode=0o700, exist_ok=True)
            folder.chmod(0o700)

    @property
    def incoming(self) -> Path:
        return self.folder / INCOMING

    def path(self, version: str) -> Path:
        if not valid_version(version):
            raise ValueError(f"not a release version: {version!r}")
        return self.folder / version

    def current(self) -> str | None:
        """The version `current` points at; None: the installed release runs."""
        try:
            target = os.readlink(self.folder / CURRENT)
        except OSError:  # no link (or not a link): the installed release
            return None
        return target if valid_version(target) and (self.folder / target).is_dir() else None

    def kept(self) -> list[str]:
        """The releases in the folder other than the current one: the one kept for a rollback
        (and one on trial's way out)."""
        if not self.folder.is_dir():
            return []
        current = self.current()
        return sorted(
            entry.name
            for entry in self.folder.iterdir()
            if entry.name != current and valid_version(entry.name) and entry.is_dir()
        )

    def current_path(self) -> Path | None:
        current = self.current()
        return None if current is None else self.path(current)

    def begin_trial(self, candidate: str, request_id: int, bound_s: float) -> None:
        """Switch `current` to the installed `candidate`, on trial."""
        trial = Trial(candidate, self.current(), request_id, bound_s)
        write_private(self.folder / TRIAL, json.dumps(asdict(trial)).encode())
        self._point_current_at(candidate)

    def trial(self) -> Trial | None:
        return _read_trial(self.folder / TRIAL)

    def confirm(self) -> Trial:
        """The release on trial came up: it stays; only it and the one before it are kept."""
        trial = self.trial()
        if trial is None:
            raise ValueError("no release on trial")
        (self.folder / TRIAL).unlink()
        keep = {trial.candidate, trial.previous, CURRENT, INCOMING, FAILED}
        for entry in self.folder.iterdir():
            if entry.name not in keep and entry.is_dir() and valid_version(entry.name):
                shutil.rmtree(entry)
        return trial

    def roll_back(self) -> Trial | None:
        """Back to the release before the trial; the failed one is removed."""
        trial = self.trial()
        if trial is None:
            return None
        if trial.previous is None:
            (self.folder / CURRENT).unlink(missing_ok=True)
        else:
            self._point_current_at(trial.previous)
        os.replace(self.folder / TRIAL, self.folder / FAILED)
        shutil.rmtree(self.folder / trial.candidate, ignore_errors=True)
        return trial

    def take_failure(self) -> Trial | None:
        """The trial the launcher rolled back, once."""
        failed = _read_trial(self.folder / FAILED)
        (self.folder / FAILED).unlink(missing_ok=True)
        return failed

    def record_update(self, record: UpdateRecord) -> None:
        write_private(self.folder / LAST_UPDATE, json.dumps(asdict(record)).encode())

    def last_update(self) -> UpdateRecord | None:
        try:
            data = json.loads((self.folder / LAST_UPDATE).read_text(encoding="utf-8"))
            return UpdateRecord(str(data["location"]), str(data["state"]), float(data["since"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # damaged: as if there were none

    def _point_current_at(self, version: str) -> None:
        link = self.folder / (CURRENT + ".new")
        link.unlink(missing_ok=True)
        os.symlink(self.path(version).name, link)
        os.replace(link, self.folder / CURRENT)


def _read_trial(path: Path) -> Trial | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Trial(
            str(data["candidate"]),
            None if data["previous"] is None else str(data["previous"]),
            int(data["request_id"]),
            float(data["bound_s"]),
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return None  # damaged: as if there were none (the release it names stays current)
