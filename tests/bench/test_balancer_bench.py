"""Benchmark: a meter sample → every resulting SetChargingProfile handed to the router.

The meter is real (pymodbus simulated meter over Modbus TCP on 127.0.0.1); the router is
replaced at its LC-call seam by a recorder that answers at once, so the figure is the LC's own
decision and dispatch cost. Printed, not asserted. Target: < 100 ms for 1,000 EVSEs.
Run: scripts/test -m bench -s tests/bench/test_balancer_bench.py
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from typing import Any

import pytest

from balancer.control import LoadBalancer
from lc.config import parse_config
from modbus.reader import MeterReader
from modbus.simulator import SimulatedMeter
from router import events as ev
from router.frames import OcppVersion

pytestmark = pytest.mark.bench

REPETITIONS = 7


class RecordingRouter:
    """The router's LC-call seam: every call is answered Accepted at once and timed."""

    def __init__(self) -> None:
        self.subscribers: list[Callable[[ev.Event], None]] = []
        self.profiles = 0
        self.all_sent = asyncio.Event()
        self.expected = 0
        self.last_sent_at = 0.0

    def subscribe(self, callback: Callable[[ev.Event], None]) -> None:
        self.subscribers.append(callback)

    async def call(
        self, identity: str, action: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        if action == "SetChargingProfile" and "transactionId" in str(payload):
            self.profiles += 1
            self.last_sent_at = asyncio.get_running_loop().time()
            if self.profiles >= self.expected:
                self.all_sent.set()
        return {"status": "Accepted"} if action == "SetChargingProfile" else {}

    def publish(self, event: ev.Event) -> None:
        for callback in self.subscribers:
            callback(event)


async def _measure(evse_count: int) -> list[float]:
    async with SimulatedMeter("eastron_sdm630") as meter:
        cap = 10.0 * evse_count
        config = parse_config(
            {
                "router": {"upstream_url": "ws://127.0.0.1:1", "connection_loss": "close"},
                "site": {"phase_cap_a": cap, "margin_a": 1},
                "meter": {"map": "eastron_sdm630", "host": "127.0.0.1", "port": meter.link.port},
                "balancer": {"reaction_time_s": 0, "deadband_a": 0, "raise_fraction": 1},
            }
        )
        assert config.balancer is not None
        router = RecordingRouter()
        reader = MeterReader(config.balancer.meter.reader)
        balancer = LoadBalancer(config.balancer, router, reader)
        for n in range(evse_count):
            identity = f"CP{n:04d}"
            version = OcppVersion.V16 if n % 2 else OcppVersion.V201
            router.publish(ev.ChargerConnected(identity, version))
            router.publish(ev.TransactionStarted(identity, str(n + 1), 1, "TAG", 0))
            router.publish(ev.StatusChanged(identity, 1, 1, "Charging"))
        await asyncio.sleep(0.5)  # capability reads and floors go out
        timings = []
        for repetition in range(REPETITIONS + 1):
            # Alternate the base load so every EVSE's limit changes each time; the cars draw
            # what they were last allowed.
            base = 5.0 if repetition % 2 else 0.25 * cap
            site = base + sum(command.limit for command in balancer.commanded.values())
            meter.set_reading(currents=(site, site, site))
            router.profiles, router.expected = 0, evse_count
            router.all_sent.clear()
            read_at = asyncio.get_running_loop().time()
            await balancer.step()
            sampled_at = reader.last_reading.taken_at if reader.last_reading else read_at
            await asyncio.wait_for(router.all_sent.wait(), 30)
            if repetition:  # the first one warms caches up
                timings.append(router.last_sent_at - sampled_at)
        await balancer.stop()
        reader.close()
        return timings


async def test_sample_to_dispatch() -> None:
    print("\nmeter sample -> all profiles dispatched (median of", REPETITIONS, "runs)")
    print("| EVSEs | median ms | max ms | target |")
    print("|---:|---:|---:|---|")
    for evse_count in (10, 100, 1000):
        timings = await _measure(evse_count)
        median_ms = statistics.median(timings) * 1000
        verdict = "met" if median_ms < 100 else "missed"
        print(
            f"| {evse_count} | {median_ms:.1f} | {max(timings) * 1000:.1f} | < 100 ms {verdict} |"
        )
