"""Settings the CSMS changed through the device model, kept across restarts in a small state
file (JSON, mode 0600, replaced atomically).

Each value is kept with the config file's value it replaced. The later change wins: while the
config file still says what it said then, the CSMS's value applies; once the site manager
changes that setting in the file, the file's value applies and the CSMS's is dropped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from config_file.private_file import write_private

log = logging.getLogger(__name__)


class Overrides:
    def __init__(self, path: Path, quiet: bool = False) -> None:
        """`quiet`: the values are secrets, kept out of the log."""
        self.path = path
        self._quiet = quiet
        self._values: dict[str, dict[str, str]] = self._load()

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("%s: unreadable, the CSMS's settings are lost: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            key: entry
            for key, entry in data.items()
            if isinstance(entry, dict)
            and isinstance(entry.get("value"), str)
            and isinstance(entry.get("file"), str)
        }

    def effective(self, key: str, file_value: str) -> str:
        """The value that applies for `key` when the config file says `file_value`."""
        entry = self._values.get(key)
        if entry is None:
            return file_value
        if entry["file"] != file_value:
            shown = "value" if self._quiet else repr(entry["value"])
            log.info("%s: the config file changed it, the CSMS's %s no longer applies", key, shown)
            del self._values[key]
            self._save()
            return file_value
        return entry["value"]

    def in_force(self) -> dict[str, tuple[str, str]]:
        """The CSMS's values that apply: key -> (its value, the config file's it replaced)."""
        return {key: (entry["value"], entry["file"]) for key, entry in self._values.items()}

    def set(self, key: str, value: str, file_value: str) -> None:
        self._values[key] = {"value": value, "file": file_value}
        self._save()

    def _save(self) -> None:
        write_private(self.path, json.dumps(self._values, indent=1, sort_keys=True).encode("utf-8"))
