from __future__ import annotations

from pathlib import Path

import pytest

from tests.firmware.origin import FIRMWARE


@pytest.fixture
def firmware_file(tmp_path: Path) -> Path:
    """The firmware as the CSMS's file server holds it."""
    file = tmp_path / "origin" / "fw.bin"
    file.parent.mkdir()
    file.write_bytes(FIRMWARE)
    return file
