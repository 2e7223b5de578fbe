"""The running Local Controller: router, metrics endpoint and signal handling, started together."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from router.config import SiteConfig, load_config
from router.config_reader import ConfigError
from router.metrics import metrics_app
from router.server import Router

log = logging.getLogger(__name__)


class LocalController:
    def __init__(self, config: SiteConfig, config_path: Path | None = None) -> None:
        self.config = config
        self._config_path = config_path
        self.router = Router(config.router)
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None
        self._reload_hooks: list[Callable[[SiteConfig], Awaitable[None]]] = []

    def on_reload(self, hook: Callable[[SiteConfig], Awaitable[None]]) -> None:
        """Run `hook` with the new config after a SIGHUP reload."""
        self._reload_hooks.append(hook)

    async def start(self) -> None:
        await self.router.start()
        self._metrics_runner = web.AppRunner(
            metrics_app([self.router.metrics.registry]), access_log=None
        )
        await self._metrics_runner.setup()
        settings = self.config.metrics
        await web.TCPSite(self._metrics_runner, settings.listen_host, settings.listen_port).start()
        self.metrics_port = int(self._metrics_runner.addresses[0][1])
        log.info("metrics on http://%s:%s/metrics", settings.listen_host, self.metrics_port)

    async def stop(self) -> None:
        await self.router.stop()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()

    async def reload(self) -> None:
        """Re-read the config file; only what can change without dropping a link is applied."""
        if self._config_path is None:
            return
        try:
            config = load_config(self._config_path)
        except ConfigError as exc:
            log.error("config reload refused, keeping the running config: %s", exc)
            return
        self.config = config
        for hook in self._reload_hooks:
            await hook(config)
        log.info("config reloaded from %s", self._config_path)


async def serve_until_signalled(controller: LocalController) -> None:
    """Run until SIGINT/SIGTERM; SIGHUP reloads the config file."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(controller.reload()))
    await controller.start()
    try:
        await stop.wait()
    finally:
        await controller.stop()
