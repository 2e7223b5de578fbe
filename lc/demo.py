"""`demo`: a whole simulated garage on this machine, with the real LC in the middle.

A CSMS (PyPI `ocpp`), twelve charge points of both protocol versions whose cars draw what
their charging profiles allow after a realistic delay, a Modbus meter at the grid connection
whose base load varies (and jumps for a while, like a lift or a heat pump starting), and the
Local Controller between chargers and CSMS, balancing them under the cap. The chargers are on
two floors, each behind a sub-board with a 40 A fuse (floor 1 with a sub-meter of its own,
floor 2 wired with a phase rotation); every fuse holds too. Every second it prints the current
per phase against the cap. After ROLLOUT_AT_S the CSMS rolls out new
charger firmware: the LC downloads it once and serves it, every charger fetches it from the
LC, and the status page shows how far each one got.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import tempfile
from pathlib import Path
from typing import Any, Literal

from firmware.publication import FINAL
from garage.charge_point import SimulatedChargePoint
from garage.csms import SimulatedCsms
from garage.firmware_origin import FirmwareOrigin
from garage.panel import SimulatedPanel
from garage.profile_store import ChargePointVersion
from garage.site import SimulatedSite
from lc.app import LocalController
from lc.config import parse_config
from modbus.simulator import SimulatedMeter

CAP_A = 63.0
MARGIN_A = 2.0
ROTATIONS: list[tuple[int, int, int]] = [(1, 2, 3), (2, 3, 1), (3, 1, 2)]
# (identity, version, charger max A, car max A, car phases, seconds after start it plugs in)
CHARGERS: list[tuple[str, ChargePointVersion, float, float, Literal[1, 3], float]] = [
    ("CP01", "1.6", 32, 32, 3, 2),
    ("CP02", "2.0.1", 32, 16, 3, 4),
    ("CP03", "1.6", 22, 16, 1, 6),
    ("CP04", "2.0.1", 32, 32, 3, 8),
    ("CP05", "1.6", 16, 16, 3, 10),
    ("CP06", "2.0.1", 32, 16, 1, 12),
    ("CP07", "1.6", 32, 32, 3, 15),
    ("CP08", "2.0.1", 22, 20, 3, 18),
    ("CP09", "1.6", 32, 32, 1, 21),
    ("CP10", "2.0.1", 16, 16, 3, 24),
    ("CP11", "1.6", 32, 32, 3, 27),
    ("CP12", "2.0.1", 32, 32, 3, 30),
]


# (name, fuse A per phase, rotation on the grid connection, the floor's own load, sub-meter)
FLOORS: list[tuple[str, float, tuple[int, int, int], tuple[float, float, float], bool]] = [
    ("floor-1", 40.0, (1, 2, 3), (3.0, 2.0, 2.5), True),
    ("floor-2", 40.0, (2, 3, 1), (0.0, 0.0, 0.0), False),
]
CHARGERS_PER_FLOOR = len(CHARGERS) // len(FLOORS)


ROLLOUT_AT_S = 40.0
# A stand-in for a charger firmware image (real ones are tens of MB).
FIRMWARE_NAME = "garage-charger-6.5.0.bin"
FIRMWARE = bytes(range(256)) * 4096


def base_load(t: float) -> tuple[float, float, float]:
    """A building's own load: slow swings, and a 20 A step on L1 between 60 s and 90 s."""
    swing = 4 * math.sin(t / 15)
    step = 20.0 if 60 <= t % 120 < 90 else 0.0
    return 14 + swing + step, 10 - swing / 2, 12 + swing / 2


def _site_config(
    csms_url: str, meter_port: int, folder: Path, sub_meter_port: int
) -> dict[str, Any]:
    chargers = [
        {
            "identity": identity,
            "max_current_a": charger_max,
            # A floor for half of the chargers; their sum (6 x 6 A) fits under the cap.
            "safe_current_a": 6 if index % 2 == 0 else 0,
            "phase_rotation": list(ROTATIONS[index % 3]),
            "priority": 1 if identity == "CP04" else 0,
        }
        for index, (identity, _version, charger_max, *_rest) in enumerate(CHARGERS)
    ]
    return {
        "router": {
            "upstream_url": csms_url,
            "listen_host": "127.0.0.1",
            "listen_port": 0,
            "offline": {"journal_path": str(folder / "journal.sqlite"), "redial_interval_s": 1},
        },
        "firmware": {
            "folder": str(folder / "firmware"),
            "listen_host": "127.0.0.1",
            "listen_port": 0,
        },
        "metrics": {"listen_host": "127.0.0.1", "listen_port": 0},
        "site": {"phase_cap_a": CAP_A, "margin_a": MARGIN_A},
        "meter": {"map": "eastron_sdm630", "host": "127.0.0.1", "port": meter_port},
        "balancer": {
            "period_s": 1,
            "reaction_time_s": 4,
            "deadband_a": 0.5,
            "rotation_period_s": 45,
            "profile_duration_s": 60,
            "refresh_s": 20,
        },
        "chargers": chargers,
        "panels": [
            {
                "name": name,
                "fuse_a": fuse,
                "phase_rotation": list(rotation),
                "chargers": [
                    identity
                    for identity, *_ in CHARGERS[
                        index * CHARGERS_PER_FLOOR : (index + 1) * CHARGERS_PER_FLOOR
                    ]
                ],
                **(
                    {
                        "meter": {
                            "map": "eastron_sdm630",
                            "host": "127.0.0.1",
                            "port": sub_meter_port,
                        }
                    }
                    if metered
                    else {}
                ),
            }
            for index, (name, fuse, rotation, _load, metered) in enumerate(FLOORS)
        ],
    }


def _bar(current: float, cap: float, width: int = 24) -> str:
    filled = min(width, round(current / cap * width))
    return "#" * filled + "." * (width - filled)


def _status_line(elapsed: float, site: SimulatedSite, lc: LocalController) -> str:
    currents = site.currents(elapsed)
    phases = "  ".join(
        f"L{n} {amps:5.1f}/{CAP_A:.0f} A [{_bar(amps, CAP_A)}]{'!' if amps > CAP_A else ' '}"
        for n, amps in enumerate(currents, start=1)
    )
    balancer = lc.balancer
    allocation = balancer.last_allocation if balancer is not None else None
    charging = paused = 0
    if allocation is not None:
        charging = sum(1 for limit in allocation.limits.values() if limit > 0)
        paused = len(allocation.paused)
    return f"t={elapsed:5.0f}s  {phases}  charging {charging:2d}  paused {paused:2d}"


async def run_demo(duration_s: float = 0) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # The journal and the published firmware live as long as the demo: nothing is left behind.
    with tempfile.TemporaryDirectory(prefix="ocpp-lc-demo-") as folder:
        await _run_garage(Path(folder), duration_s, stop)


async def roll_out_firmware(
    lc: LocalController, csms: SimulatedCsms, origin: FirmwareOrigin, identities: list[str]
) -> None:
    """What a CSMS does with a new charger release: PublishFirmware to the LC, then
    UpdateFirmware to every charger with the LC's URI. (The demo hands PublishFirmware to the
    LC's handler itself: the LC's own connection to the CSMS does not carry it yet.)"""
    publisher = lc.firmware
    assert publisher is not None
    publisher.publish_firmware({"location": origin.url, "checksum": origin.md5, "requestId": 1})
    notice = await publisher.notices.get()
    while notice["status"] not in FINAL:
        notice = await publisher.notices.get()
    if notice["status"] != "Published":
        print(f"firmware rollout: the LC could not publish it ({notice['status']})")
        return
    uri = notice["location"][0]
    print(f"firmware rollout: the LC serves {origin.name} at {uri}", flush=True)
    for identity in identities:
        if csms.connected(identity):
            await csms.station(identity).update_firmware(uri)


def _installed(lc: LocalController) -> int:
    return sum(
        1
        for charger in lc.site_view.chargers.values()
        if (update := charger.transfers.get("firmware")) is not None
        and update.outcome == "installed"
    )


async def _run_garage(folder: Path, duration_s: float, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    async with (
        SimulatedCsms() as csms,
        SimulatedMeter("eastron_sdm630") as meter,
        FirmwareOrigin(FIRMWARE_NAME, FIRMWARE) as origin,
        SimulatedMeter("eastron_sdm630") as sub_meter,
    ):
        config = _site_config(csms.url, meter.link.port, folder, sub_meter.link.port)
        lc = LocalController(parse_config(config))
        await lc.start()
        lc_url = f"ws://127.0.0.1:{lc.router.port}"
        chargers = [
            SimulatedChargePoint(
                lc_url,
                identity,
                version=version,
                hardware_max_current_a=charger_max,
                reaction_delay_s=3.0,
                meter_interval_s=2.0,
            )
            for identity, version, charger_max, *_rest in CHARGERS
        ]
        floors = [
            SimulatedPanel(
                name,
                [
                    (cp, ROTATIONS[index % 3])
                    for index, cp in enumerate(chargers)
                    if index // CHARGERS_PER_FLOOR == floor
                ],
                own_load,
                meter=sub_meter if metered else None,
            )
            for floor, (name, _fuse, _rotation, own_load, metered) in enumerate(FLOORS)
        ]
        site = SimulatedSite(
            meter,
            [(panel, rotation) for panel, (_, _, rotation, *_) in zip(floors, FLOORS, strict=True)],
            base_load,
        )
        await site.start()
        status = f"http://127.0.0.1:{lc.metrics_port}/"
        print(f"status page: open {status} in a browser (metrics: {status}metrics)")
        print(f"CSMS {csms.url}   chargers connect to the LC at {lc_url}")
        print(f"grid cap {CAP_A:.0f} A per phase, margin {MARGIN_A:.0f} A; Ctrl-C stops")
        print("one line per second below; warnings as they happen; -v for the LC's log")
        runners = [asyncio.create_task(cp.run()) for cp in chargers]
        start = loop.time()
        plugged: set[str] = set()
        rollout: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                elapsed = loop.time() - start
                if duration_s and elapsed >= duration_s:
                    break
                if rollout is None and elapsed >= ROLLOUT_AT_S:
                    identities = [identity for identity, *_ in CHARGERS]
                    rollout = asyncio.create_task(roll_out_firmware(lc, csms, origin, identities))
                for cp, (identity, _v, _max, car_max, phases, plug_at) in zip(
                    chargers, CHARGERS, strict=True
                ):
                    if identity not in plugged and elapsed >= plug_at and cp.connected:
                        await cp.plug_in(car_max, phases)
                        plugged.add(identity)
                print(_status_line(elapsed, site, lc), flush=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            if rollout is not None:
                rollout.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rollout
                print(f"firmware rollout: {_installed(lc)} of {len(CHARGERS)} chargers installed")
            for cp in chargers:
                await cp.close()
            await asyncio.gather(*runners, return_exceptions=True)
            await site.stop()
            await lc.stop()
            seconds_above = site.seconds_above(CAP_A)
            print(f"done: {seconds_above:.1f} s with a phase above the cap")
            for panel, (name, fuse, *_) in zip(floors, FLOORS, strict=True):
                above_fuse = panel.seconds_above(fuse)
                print(f"{name}: {above_fuse:.1f} s with a phase above its {fuse:.0f} A fuse")
