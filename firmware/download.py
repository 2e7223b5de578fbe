"""One attempt to download a firmware file over HTTP or HTTPS, resuming a partial one.

An attempt either completes the file, fails in a way worth retrying (`DownloadError`: the
network, the server), or is refused (`Refused`: the file does not fit the budget or the disk
is full; trying again would only do the same).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

CHUNK_BYTES = 64 * 1024


class DownloadError(Exception):
    """This attempt failed; another one may succeed."""


class Refused(Exception):
    """The file cannot be kept: `reason` is "too_large" or "disk_full"."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


async def download(http: aiohttp.ClientSession, url: str, target: Path, budget: int) -> None:
    """Download `url` into `target`, going on from the bytes already in it (HTTP Range)."""
    offset = await asyncio.to_thread(_size, target)
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        async with http.get(url, headers=headers) as response:
            if response.status == 200:
                offset = 0  # the server sends the whole file: start again
            elif response.status != 206 or not offset:
                # 416 too: what is on disk does not fit the file any more
                await asyncio.to_thread(target.unlink, missing_ok=True)
                raise DownloadError(f"HTTP {response.status} from the server")
            length = response.content_length
            if length is not None and offset + length > budget:
                raise Refused("too_large", f"{offset + length} bytes, the budget is {budget}")
            written = offset
            out = await asyncio.to_thread(target.open, "ab" if offset else "wb")
            try:
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    written += len(chunk)
                    if written > budget:  # a server may send more than it announced
                        raise Refused("too_large", f"more than the budget of {budget} bytes")
                    await asyncio.to_thread(out.write, chunk)
            finally:
                await asyncio.to_thread(out.close)
    except Refused:
        await asyncio.to_thread(target.unlink, missing_ok=True)
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DownloadError(_without_password(str(exc) or type(exc).__name__, url)) from exc
    except OSError as exc:
        await asyncio.to_thread(target.unlink, missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise Refused("disk_full", f"the disk is full: {exc.strerror}") from exc
        raise DownloadError(f"cannot write the file: {exc.strerror}") from exc


def _without_password(text: str, url: str) -> str:
    """An error text for the log: a password in the URL (aiohttp may quote it) left out."""
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def md5_of(path: Path) -> str:
    """The MD5 of the whole file (L03.FR.02), in hex; blocking: run it in a thread."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
