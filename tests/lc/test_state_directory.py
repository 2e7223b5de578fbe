"""One state directory: relative journal and state paths resolve against it, wherever the LC
was started from; without one, a relative path is refused naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config_file.state_directory import DEFAULT, parse_state_directory
from config_file.table import ConfigError, Table
from lc.config import parse_config, state_paths


def _site(**sections: Any) -> dict[str, Any]:
    router = {"upstream_url": "ws://127.0.0.1:9/ocpp", **sections.pop("router", {})}
    return {"router": router, **sections}


def test_a_relative_journal_lands_in_the_configured_state_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "from-systemd"
    config = parse_config(
        _site(state_directory=str(tmp_path)), environ={"STATE_DIRECTORY": str(elsewhere)}
    )
    assert config.router.hold is not None
    assert config.router.hold.journal_path == tmp_path / "journal.sqlite"


def test_systemd_state_directory_is_the_default(tmp_path: Path) -> None:
    station = {"identity": "LC-1", "csms_url": "ws://127.0.0.1:9/ocpp"}
    offline = {"journal_path": "site/journal.sqlite"}
    (tmp_path / "site").mkdir()
    config = parse_config(
        _site(router={"offline": offline}, station=station),
        environ={"STATE_DIRECTORY": f"{tmp_path}:/var/lib/other"},
    )
    assert state_paths(config) == [
        ("state_directory", tmp_path),
        ("router.offline.journal_path", tmp_path / "site" / "journal.sqlite"),
        ("station.state_path", tmp_path / "ocpp-lc-station-state.json"),
    ]


def test_absolute_paths_need_no_state_directory(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    root = Table(_site(router={"offline": {"journal_path": str(journal)}}), "")
    state = parse_state_directory(root, {}, writable=lambda _folder: False)
    assert state.folder is None
    config = parse_config(_site(router={"offline": {"journal_path": str(journal)}}), environ={})
    assert config.router.hold is not None and config.router.hold.journal_path == journal


def test_the_default_folder_when_the_lc_can_write_there() -> None:
    state = parse_state_directory(Table({}, ""), {}, writable=lambda folder: folder == DEFAULT)
    assert state.folder == DEFAULT


def test_a_relative_path_without_a_state_directory_names_the_key() -> None:
    root = Table({"router": {"offline": {}}}, "")
    state = parse_state_directory(root, {}, writable=lambda _folder: False)
    offline = root.table("router").table("offline")
    with pytest.raises(ConfigError) as caught:
        state.path(offline, "journal_path", "journal.sqlite")
    assert str(caught.value).startswith(
        "router.offline.journal_path: 'journal.sqlite' is relative and the LC has no state "
        "directory: set state_directory"
    )


@pytest.mark.parametrize(
    ("folder", "problem"),
    [
        ("relative/state", "expected an absolute path, got 'relative/state'"),
        ("/nonexistent-lc-state", "the folder '/nonexistent-lc-state' does not exist"),
    ],
)
def test_a_bad_state_directory_is_refused(folder: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"^state_directory: {problem}"):
        parse_config(_site(state_directory=folder), environ={})


def test_the_working_folder_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old default: a journal in whatever folder the service was started from."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.chdir(tmp_path)
    config = parse_config(_site(), environ={"STATE_DIRECTORY": str(state)})
    assert config.router.hold is not None
    assert config.router.hold.journal_path == state / "journal.sqlite"
