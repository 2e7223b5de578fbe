"""How long a `/metrics` scrape holds the LC's event loop with N chargers connected, for two
versions of the LC side by side.

Starts one fake CSMS, the LC of this tree and the LC of another checkout (`--baseline DIR`),
connects N idle chargers through each (a load generator process per LC), then scrapes each LC
in turn, REPS times. Each turn: BATCH scrapes back to back for the LC's CPU per scrape from /proc
(a scrape runs on its event loop, so this is the time the loop is held; /proc counts in 10 ms
ticks, hence the batch), then one scrape while a probe charger sends Heartbeats back to back: its
longest round trip (they wait for the loop), next to its median when no scrape runs. Prints
medians and spreads; nothing is asserted.

Run with: python -m tests.bench.scrape_stall --baseline DIR
    [--chargers 9000] [--reps 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from tests.bench import relay_load as rl
from tests.bench.compare_lc import lc_from

CONNECTED_BUDGET_S = 300.0
PROBE_ROUND_TRIPS = 200  # the probe's quiet median is taken over as many
BATCH = 20
HEARTBEAT = '[2,"{}","Heartbeat",{{}}]'


@contextlib.contextmanager
def _fleet(lc: rl.Service, chargers: int, log: Path) -> Iterator[None]:
    """N chargers held connected to `lc` by a load generator of their own."""
    command = rl._module("client", "--url", lc.url, "--chargers", str(chargers), "--idle", "3600")
    process = rl._spawn(command, log)
    try:
        yield
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
        if process.poll() is None:
            process.kill()
            process.wait()


async def _links_up(http: aiohttp.ClientSession, lc: rl.Service) -> int:
    async with http.get(f"http://127.0.0.1:{lc.metrics_port}/metrics") as response:
        text = await response.text()
    return sum(1 for line in text.splitlines() if line.startswith("ocpp_lc_upstream_connected{"))


async def _wait_connected(http: aiohttp.ClientSession, lc: rl.Service, chargers: int) -> None:
    deadline = time.monotonic() + CONNECTED_BUDGET_S
    while await _links_up(http, lc) < chargers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{lc.name}: not all {chargers} chargers connected")
        await asyncio.sleep(1)


class Probe:
    """A charger sending Heartbeats back to back; records each round trip."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._sent = 0
        self.round_trips: list[float] = []

    async def round_trip(self) -> None:
        self._sent += 1
        began = time.perf_counter()
        await self._ws.send_str(HEARTBEAT.format(self._sent))
        async with asyncio.timeout(30):
            await self._ws.receive()
        self.round_trips.append(time.perf_counter() - began)

    async def close(self) -> None:
        await self._ws.close()

    async def run_until(self, done: asyncio.Event) -> float:
        """The longest round trip until `done` (at least one)."""
        longest = 0.0
        while True:
            await self.round_trip()
            longest = max(longest, self.round_trips[-1])
            if done.is_set():
                return longest


async def _scrape(http: aiohttp.ClientSession, lc: rl.Service) -> None:
    async with http.get(f"http://127.0.0.1:{lc.metrics_port}/metrics") as response:
        await response.read()


async def _cpu_per_scrape(http: aiohttp.ClientSession, lc: rl.Service) -> float:
    cpu = rl.cpu_seconds(lc.pids[0])
    for _ in range(BATCH):
        await _scrape(http, lc)
    return (rl.cpu_seconds(lc.pids[0]) - cpu) / BATCH


async def _longest_round_trip(http: aiohttp.ClientSession, lc: rl.Service, probe: Probe) -> float:
    done = asyncio.Event()
    probing = asyncio.create_task(probe.run_until(done))
    await asyncio.sleep(0)
    await _scrape(http, lc)
    done.set()
    return await probing


def _row(name: str, values: list[float]) -> str:
    ms = [value * 1000 for value in values]
    return f"  {name:9} {statistics.median(ms):7.1f} ms ({min(ms):.1f}–{max(ms):.1f})"


async def _measure(lcs: dict[str, rl.Service], chargers: int, reps: int) -> dict[str, object]:
    cpu: dict[str, list[float]] = {name: [] for name in lcs}
    stall: dict[str, list[float]] = {name: [] for name in lcs}
    quiet: dict[str, float] = {}
    async with aiohttp.ClientSession() as http:
        probes = {}
        for name, lc in lcs.items():
            await _wait_connected(http, lc, chargers)
            ws = await http.ws_connect(f"{lc.url}/ocpp/PROBE", protocols=(rl.SUBPROTOCOL,))
            probes[name] = Probe(ws)
            for _ in range(PROBE_ROUND_TRIPS):
                await probes[name].round_trip()
            quiet[name] = statistics.median(probes[name].round_trips)
        names = list(lcs)
        for rep in range(reps):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                cpu[name].append(await _cpu_per_scrape(http, lcs[name]))
                stall[name].append(await _longest_round_trip(http, lcs[name], probes[name]))
        for probe in probes.values():
            await probe.close()
    print(f"{chargers} chargers connected to each LC, {reps} turns each (interleaved)")
    print("LC CPU per scrape (the event loop held):")
    for name in names:
        print(_row(name, cpu[name]))
    print("longest probe round trip during a scrape (quiet median in brackets):")
    for name in names:
        print(_row(name, stall[name]) + f"  [{quiet[name] * 1000:.2f} ms]")
    return {"chargers": chargers, "cpu_s": cpu, "longest_round_trip_s": stall, "quiet_s": quiet}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other LC's checkout")
    parser.add_argument("--chargers", type=int, default=9000)
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    rl.raise_nofile_limit()
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scrape-stall-")))
        csms = stack.enter_context(rl.start_csms(workdir))
        lcs = {
            "baseline": stack.enter_context(
                lc_from(args.baseline.resolve(), workdir, csms.port, "lc-baseline")
            ),
            "this": stack.enter_context(lc_from(rl.REPO, workdir, csms.port, "lc-this")),
        }
        for name, lc in lcs.items():
            stack.enter_context(_fleet(lc, args.chargers, workdir / f"fleet-{name}.log"))
        result = asyncio.run(_measure(lcs, args.chargers, args.reps))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
