"""Running the LC as a service: until SIGINT/SIGTERM or a restart it asked for, with SIGHUP
reloading its config file, and a bound on how long stopping may take."""

from __future__ import annotations

import asyncio
import gc
import signal
from functools import partial

from lc.app import LocalController
from router import events as ev
from supervision.gc_freeze import LinkFreezer, collect_young_less_often, freeze
from supervision.heap import HeapReleaser
from supervision.loop_lag import LoopLagProbe

# How long stopping may take after SIGTERM/SIGINT; systemd's TimeoutStopSec is above it.
SHUTDOWN_BOUND_S = 15.0


class ShutdownOverrun(RuntimeError):
    """Stopping took longer than SHUTDOWN_BOUND_S: the process must exit regardless."""


async def serve_until_signalled(controller: LocalController) -> None:
    """Run until SIGINT/SIGTERM or until the LC is to restart (`restart_requested`); SIGHUP
    reloads the config file."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(controller.reload()))
    await controller.start()
    # What start-up built (compiled schemas, imported modules: ~100k objects) lives as long as
    # the process. Frozen, the collector no longer walks it: a full collection stalled every
    # charger's frames for ~30 ms before.
    gc.collect()
    freeze()
    collect_young_less_often()
    freezer = LinkFreezer()  # and then the links, once their connects settle
    controller.router.subscribe(partial(_links_to, freezer))
    heap = HeapReleaser()  # the C heap's free pages back to the system every minute
    lag = LoopLagProbe()  # ocpp_lc_event_loop_lag_seconds
    ends = [asyncio.ensure_future(e.wait()) for e in (stop, controller.restart_requested)]
    try:
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
    finally:
        freezer.close()
        heap.close()
        lag.close()
        for end in ends:
            end.cancel()
        # A peer that never finishes its close handshake must not hold the LC up: past the
        # bound, what is still open is abandoned (the journal is crash-safe, `kill -9` too).
        try:
            await asyncio.wait_for(controller.stop(), SHUTDOWN_BOUND_S)
        except TimeoutError:
            raise ShutdownOverrun(f"not stopped within {SHUTDOWN_BOUND_S:.0f} s") from None


def _links_to(freezer: LinkFreezer, event: ev.Event) -> None:
    if isinstance(event, ev.ChargerConnected):
        freezer.opened()
    elif isinstance(event, ev.ChargerDisconnected):
        freezer.closed()
