"""The running Local Controller: router, load balancer and metrics endpoint, started together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from pathlib import Path

from aiohttp import web

from balancer.control import LoadBalancer
from lc.balancer_status import balancer_status
from lc.config import SiteConfig, load_config
from lc.site_view import SiteView
from lc.status_page import StatusSnapshot, render
from modbus.reader import MeterReader
from router.config_reader import ConfigError
from router.metrics import metrics_app
from router.server import Router
from router.start_error import listen_failure
from supervision.tasks import REGISTRY as TASK_REGISTRY
from supervision.tasks import Tasks

log = logging.getLogger(__name__)

# How long stopping may take after SIGTERM/SIGINT; systemd's TimeoutStopSec is above it.
SHUTDOWN_BOUND_S = 15.0


class ShutdownOverrun(RuntimeError):
    """Stopping took longer than SHUTDOWN_BOUND_S: the process must exit regardless."""


class LocalController:
    def __init__(self, config: SiteConfig, config_path: Path | None = None) -> None:
        self.config = config
        self._config_path = config_path
        self.router = Router(config.router)
        self.site_view = SiteView()
        self.router.subscribe(lambda event: self.site_view.handle(event, time.time()))
        self.balancer: LoadBalancer | None = None
        self._tasks = Tasks()
        self._balancer_task: asyncio.Task[None] | None = None
        self._meter: MeterReader | None = None
        self._panel_meters: dict[str, MeterReader] = {}  # sub-meters, by panel name
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None
        self._started_at = time.time()

    async def start(self) -> None:
        """Open everything; on any failure close what was opened, then raise.

        A half-started LC must not linger: the journal's worker thread alone would keep the
        process alive with no socket open.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        registries = [self.router.metrics.registry, TASK_REGISTRY]
        if self.config.balancer is not None:
            self._meter = MeterReader(self.config.balancer.meter.reader)
            self._panel_meters = {
                panel.name: MeterReader(panel.meter.reader)
                for panel in self.config.balancer.panels
                if panel.meter is not None
            }
            self.balancer = LoadBalancer(
                self.config.balancer, self.router, self._meter, panel_meters=self._panel_meters
            )
            for warning in self.config.balancer.warnings:
                log.warning("config: %s", warning)
            registries.append(self.balancer.metrics.registry)
        await self.router.start()
        if self.balancer is not None:
            self._balancer_task = self._tasks.spawn(self.balancer.run(), "balancer")
        app = metrics_app(registries)
        app.router.add_get("/", self._status_page)
        self._metrics_runner = web.AppRunner(app, access_log=None)
        await self._metrics_runner.setup()
        settings = self.config.metrics
        site = web.TCPSite(self._metrics_runner, settings.listen_host, settings.listen_port)
        try:
            await site.start()
        except OSError as exc:
            raise listen_failure(
                "metrics", settings.listen_host, settings.listen_port, exc
            ) from exc
        self.metrics_port = int(self._metrics_runner.addresses[0][1])
        log.info(
            "status page on http://%s:%s/, metrics on /metrics",
            settings.listen_host,
            self.metrics_port,
        )

    async def status(self) -> StatusSnapshot:
        view, journal = self.site_view, self.router.journal
        return StatusSnapshot(
            time.time(),
            list(view.chargers.values()),
            list(view.ended),
            balancer_status(self.balancer) if self.balancer is not None else None,
            await journal.backlog() if journal is not None else {},
            expected=self._expected_chargers(),
            started_at=self._started_at,
        )

    def _expected_chargers(self) -> list[str]:
        """The chargers the config names, listed on the status page even while absent."""
        expected = set(self.config.router.allowed_identities or ())
        if self.config.balancer is not None:
            expected |= {charger.identity for charger in self.config.balancer.chargers}
        return sorted(expected)

    async def _status_page(self, _request: web.Request) -> web.Response:
        return web.Response(text=render(await self.status()), content_type="text/html")

    async def stop(self) -> None:
        """Close everything opened so far; safe after a partial start and when called twice."""
        if self._balancer_task is not None:
            self._balancer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._balancer_task
        if self.balancer is not None:
            await self.balancer.stop()
        await self.router.stop()
        if self._meter is not None:
            self._meter.close()
        for panel_meter in self._panel_meters.values():
            panel_meter.close()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
            self._metrics_runner = None

    async def reload(self) -> None:
        """Re-read the config file and apply what can change without dropping a link."""
        if self._config_path is None:
            return
        try:
            config = load_config(self._config_path)
        except ConfigError as exc:
            log.error("config reload refused, keeping the running config: %s", exc)
            return
        if (config.balancer is None) != (self.balancer is None):
            log.error("config reload refused: adding or removing [site] needs a restart")
            return
        if config.router != self.config.router:
            log.warning("router settings changed: they take effect at the next restart")
        self._renew_server_certificates(config)
        if self.balancer is not None and config.balancer is not None:
            self.balancer.apply_config(config.balancer)
        self.config = config
        log.info("config reloaded from %s", self._config_path)

    def _renew_server_certificates(self, config: SiteConfig) -> None:
        """Renewed certificate files (the same paths) apply to new charger connections."""
        renewed = config.router.server_ssl
        if renewed is None and self.config.router.server_ssl is None:
            return
        if renewed is not None and self.router.use_server_certificates(renewed):
            log.info("[router.tls] certificates re-read: new charger connections get them")
        else:
            log.warning("[router.tls] changed beyond its certificates: at the next restart")


async def serve_until_signalled(controller: LocalController) -> None:
    """Run until SIGINT/SIGTERM; SIGHUP reloads the config file."""
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
    gc.freeze()
    try:
        await stop.wait()
    finally:
        # A peer that never finishes its close handshake must not hold the LC up: past the
        # bound, what is still open is abandoned (the journal is crash-safe, `kill -9` too).
        try:
            await asyncio.wait_for(controller.stop(), SHUTDOWN_BOUND_S)
        except TimeoutError:
            raise ShutdownOverrun(f"not stopped within {SHUTDOWN_BOUND_S:.0f} s") from None
