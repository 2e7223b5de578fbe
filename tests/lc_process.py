"""The LC as an installer runs it: its command line in a process of its own, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config" / "site.example.toml"
# Where the example puts the journal: the systemd unit's state directory, the container's volume.
EXAMPLE_JOURNAL = "/var/lib/ocpp-lc/journal.sqlite"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def site_config(upstream: str, port: int, metrics_port: int, journal: Path) -> str:
    return f"""
[router]
upstream_url = "{upstream}"
listen_host = "127.0.0.1"
listen_port = {port}
ping_interval_s = 5

[router.offline]
journal_path = "{journal}"

[metrics]
listen_host = "127.0.0.1"
listen_port = {metrics_port}
"""


def example_config(folder: Path) -> Path:
    """The example config, its journal in `folder` (which exists, unlike /var/lib/ocpp-lc here)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert EXAMPLE_JOURNAL in text
    copy = folder / "site.example.toml"
    copy.write_text(text.replace(EXAMPLE_JOURNAL, str(folder / "journal.sqlite")), encoding="utf-8")
    return copy


async def start_lc(
    *args: str, program: tuple[str, ...] = (sys.executable, "-m", "lc"), cwd: Path = REPO
) -> asyncio.subprocess.Process:
    """`ocpp-lc ARGS` (by default this checkout's `python -m lc`), output captured."""
    return await asyncio.create_subprocess_exec(
        *program,
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_listening(port: int) -> None:
    for _ in range(400):
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listens on {port}")
