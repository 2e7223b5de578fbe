"""A charger's new link, once its handshake succeeded: its session (with the offline relay
under `hold`), its frame budget and bounds, and under `hold` its journal and redial."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from aiohttp.client_ws import ClientWebSocketResponse

from router import events as ev
from router.frames import OcppVersion
from router.hold_policy import HoldPolicy
from router.link import ChargerLimits, Link
from router.metrics import RouterMetrics
from router.rate_limit import FrameBudget
from router.schemas import SchemaRegistry
from router.session import LinkSession
from router.settings import RouterSettings


class LinkBuilder:
    def __init__(
        self,
        settings: RouterSettings,
        schemas: SchemaRegistry,
        metrics: RouterMetrics,
        publish: Callable[[ev.Event], None],
        hold: HoldPolicy | None,
    ) -> None:
        """`publish`: where the links' observation events go."""
        self._settings = settings
        self._schemas = schemas
        self._metrics = metrics
        self._publish = publish
        self._hold = hold

    async def build(
        self,
        identity: str,
        version: OcppVersion,
        charger: web.WebSocketResponse,
        csms: ClientWebSocketResponse | None,
        path: str,
        offered: list[str],
        headers: dict[str, str],
    ) -> Link:
        """The charger's link, from its handshake: its path, the subprotocols it offered
        and its headers."""
        settings = self._settings
        budget = None
        if settings.max_frames_per_s is not None:
            now = asyncio.get_running_loop().time()
            budget = FrameBudget(settings.max_frames_per_s, settings.frame_burst, now)
        limits = ChargerLimits(budget, settings.frame_timeout_s, settings.violation_log_interval_s)
        held = None
        if self._hold is not None:
            held = await self._hold.link_parts(
                identity,
                version,
                settings.session,
                self._schemas,
                path,
                offered,
                headers,
                charger.ws_protocol or "",
            )
        if held is None:
            session = LinkSession(identity, version, settings.session, self._schemas)
            return Link(session, charger, csms, self._metrics, self._publish, limits)
        session, hold = held
        return Link(session, charger, csms, self._metrics, self._publish, limits, hold)
