"""Writing certificate and key files: whole or not at all, with the mode they need."""

from __future__ import annotations

import os
from pathlib import Path

PUBLIC_MODE = 0o644  # certificates: anyone on the box may read them
PRIVATE_MODE = 0o600  # private keys: the LC's user only


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Writes `data` to `path` through a temporary file created with `mode`, then renames it.

    The mode is set at creation, so a private key is never readable by others, not even for
    a moment, and a crash leaves either the old file or the new one.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)  # the umask may have taken bits away
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
