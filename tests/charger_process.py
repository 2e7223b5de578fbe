"""A charge point in its own process, so tests can kill -9 or freeze it (SIGSTOP).

Usage: python -m tests.charger_process URL IDENTITY VERSION
Connects, boots, prints "ready" and idles; it never pings, so only the LC's pings can
find out that it is frozen. Stops by itself after 60 s at the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from tests.peers import connect_charge_point

LIFETIME_S = 60


async def main(url: str, identity: str, version: str) -> None:
    charger = await connect_charge_point(url, identity, version)
    await charger.cp.boot()
    print("ready", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(charger.ws.wait_closed(), LIFETIME_S)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
