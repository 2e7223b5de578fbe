"""The CSMS host's addresses, looked up at most once per TTL: after an outage every charger
redials at the same moment, and their dials share one lookup rather than queue a thousand in
the resolver's threads (aiohttp's client kept such a cache too, for 10 s)."""

from __future__ import annotations

import asyncio
import socket

from aiohappyeyeballs import AddrInfoType

TTL_S = 10.0


class CsmsAddresses:
    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._lookup: asyncio.Future[list[AddrInfoType]] | None = None
        self._expires = 0.0

    async def get(self) -> list[AddrInfoType]:
        loop = asyncio.get_running_loop()
        lookup = self._lookup
        if lookup is None or (lookup.done() and (loop.time() >= self._expires or _failed(lookup))):
            lookup = self._lookup = asyncio.ensure_future(self._look_up())
            self._expires = loop.time() + TTL_S
        if lookup.done():
            return lookup.result()  # the usual case: no future, no wake-up per dial
        # Shielded: a dial given up does not cancel the lookup the others wait on.
        return await asyncio.shield(lookup)

    async def _look_up(self) -> list[AddrInfoType]:
        loop = asyncio.get_running_loop()
        found = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        return [address for address in found]


def _failed(lookup: asyncio.Future[list[AddrInfoType]]) -> bool:
    return lookup.cancelled() or lookup.exception() is not None
