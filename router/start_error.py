"""A start-up failure naming the config key at fault: a port in use, a journal it cannot open."""

from __future__ import annotations

import errno
import os


class StartError(RuntimeError):
    """What the config asked for could not be opened; the message starts with the key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


def listen_failure(
    section: str, host: str, port: int, exc: OSError, port_key: str = "listen_port"
) -> StartError:
    """A failed bind, blamed on `listen_host` when the address is not this machine's."""
    key = "listen_host" if exc.errno == errno.EADDRNOTAVAIL else port_key
    detail = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    return StartError(f"{section}.{key}", f"cannot listen on {host}:{port}: {detail}")
