"""The LC's one state directory: relative paths of its journal and state files resolve against
it, so a service started from any folder keeps its state in one known place.

Where it is: `state_directory` in the config; else the folder systemd's StateDirectory= gives
($STATE_DIRECTORY); else /var/lib/ocpp-lc when the LC can write there. Without any of them a
relative path is a config error naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from config_file.table import ConfigError, Table

KEY = "state_directory"
DEFAULT = Path("/var/lib/ocpp-lc")


@dataclass(frozen=True, slots=True)
class StateDirectory:
    folder: Path | None  # None: none configured, none from systemd, the default not writable

    def path(self, table: Table, name: str, default: str | None = None) -> Path:
        """The path at `table.name` (required without a `default`), a relative one inside the
        state directory."""
        given = Path(table.string(name) if default is None else table.string(name, default))
        if given.is_absolute():
            return given
        if self.folder is None:
            raise ConfigError(
                f"{table.key(name)}: {str(given)!r} is relative and the LC has no state "
                f"directory: set {KEY} (an absolute folder), or give an absolute path "
                f"({DEFAULT} is not writable here and systemd gave no $STATE_DIRECTORY)"
            )
        return self.folder / given


def _writable_folder(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def parse_state_directory(
    root: Table,
    environ: Mapping[str, str],
    writable: Callable[[Path], bool] = _writable_folder,
) -> StateDirectory:
    if root.has(KEY):
        folder = Path(root.string(KEY))
        if not folder.is_absolute():
            raise ConfigError(f"{KEY}: expected an absolute path, got {str(folder)!r}")
        if not folder.is_dir():
            raise ConfigError(
                f"{KEY}: the folder {str(folder)!r} does not exist (create it on persistent "
                "storage, writable by the LC's user only)"
            )
        return StateDirectory(folder)
    # StateDirectory= with several names gives them colon-separated: the unit's first is the LC's.
    from_systemd = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if from_systemd:
        return StateDirectory(Path(from_systemd))
    return StateDirectory(DEFAULT if writable(DEFAULT) else None)
