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
from lc.config import SiteConfig, load_config
from lc.site_view import SiteView
from lc.status_page import BalancerStatus, EvseControl, StatusSnapshot, render
from modbus.reader import MeterReader
from router.config_reader import ConfigError
from router.metrics import metrics_app
from router.server import Router

log = logging.getLogger(__name__)


class LocalController:
    def __init__(self, config: SiteConfig, config_path: Path | None = None) -> None:
        self.config = config
        self._config_path = config_path
        self.router = Router(config.router)
        self.site_view = SiteView()
        self.router.subscribe(lambda event: self.site_view.handle(event, time.time()))
        self.balancer: LoadBalancer | None = None
        self._balancer_task: asyncio.Task[None] | None = None
        self._meter: MeterReader | None = None
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None

    async def start(self) -> None:
        registries = [self.router.metrics.registry]
        if self.config.balancer is not None:
            self._meter = MeterReader(self.config.balancer.meter.reader)
            self.balancer = LoadBalancer(self.config.balancer, self.router, self._meter)
            registries.append(self.balancer.metrics.registry)
        await self.router.start()
        if self.balancer is not None:
            self._balancer_task = asyncio.create_task(self.balancer.run(), name="balancer")
        app = metrics_app(registries)
        app.router.add_get("/", self._status_page)
        self._metrics_runner = web.AppRunner(app, access_log=None)
        await self._metrics_runner.setup()
        settings = self.config.metrics
        await web.TCPSite(self._metrics_runner, settings.listen_host, settings.listen_port).start()
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
            self._balancer_status(),
            await journal.backlog() if journal is not None else {},
            self.router.backlogs_waiting_for_charger(),
        )

    def _balancer_status(self) -> BalancerStatus | None:
        balancer = self.balancer
        if balancer is None:
            return None
        allocation = balancer.last_allocation
        history = balancer.history.samples()
        paused = allocation.paused if allocation is not None else {}
        evses = {
            key: EvseControl(
                command.limit if (command := balancer.commanded.get(key)) else None,
                paused[key].value if key in paused else None,
                key not in balancer.disobedient,
            )
            for key in balancer.model.evses
        }
        return BalancerStatus(
            mode=allocation.mode if allocation is not None else None,
            caps=balancer.config.phase_cap_a,
            margin=balancer.config.margin_a,
            measured=history[-1].currents if history else None,
            history=history,
            window_s=balancer.history.window_s,
            evses=evses,
            station_max=frozenset(balancer.station_max),
        )

    async def _status_page(self, _request: web.Request) -> web.Response:
        return web.Response(text=render(await self.status()), content_type="text/html")

    async def stop(self) -> None:
        if self._balancer_task is not None:
            self._balancer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._balancer_task
        if self.balancer is not None:
            await self.balancer.stop()
        await self.router.stop()
        if self._meter is not None:
            self._meter.close()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()

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
        await controller.stop()
