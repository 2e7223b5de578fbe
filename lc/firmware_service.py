"""The LC's firmware service for its chargers ([firmware]): the store of published files, the
file server chargers download them from, and the publisher that answers PublishFirmware."""

from __future__ import annotations

import logging
import ssl

from prometheus_client import CollectorRegistry

from firmware.config import FirmwareSettings
from firmware.publisher import FirmwarePublisher
from firmware.server import FileServer
from firmware.store import FirmwareStore
from ocpp_knowledge.security_events import RecordSecurityEvent
from router.start_error import StartError, listen_failure

log = logging.getLogger(__name__)


class FirmwareService:
    def __init__(
        self,
        settings: FirmwareSettings,
        charger_tls: ssl.SSLContext | None,
        security_event: RecordSecurityEvent,
    ) -> None:
        """`charger_tls`: the LC's TLS server context towards chargers, for the https port."""
        self._settings = settings
        self._charger_tls = charger_tls
        self._security_event = security_event
        self.registry = CollectorRegistry()  # the store's, the file server's and the publisher's
        self._file_server: FileServer | None = None
        self._publisher: FirmwarePublisher | None = None

    async def start(self) -> FirmwarePublisher:
        """Open the store and serve it; the publisher, PublishFirmware's handlers."""
        settings = self._settings
        try:
            store = FirmwareStore(settings.folder, settings.max_bytes)
        except OSError as exc:
            raise StartError("firmware.folder", f"cannot use it: {exc.strerror}") from exc
        self._file_server = FileServer(
            store,
            settings.public_host,
            self.registry,
            settings.max_fetches,
            settings.max_fetches_per_client,
        )
        listeners: list[tuple[str, str, int, ssl.SSLContext | None]] = [
            ("http", "listen_port", settings.listen_port, None)
        ]
        if settings.https_port is not None:
            listeners.append(("https", "https_port", settings.https_port, self._charger_tls))
        for scheme, key, port, context in listeners:
            try:
                await self._file_server.listen(scheme, settings.listen_host, port, context)
            except OSError as exc:
                raise listen_failure("firmware", settings.listen_host, port, exc, key) from exc
        self._publisher = FirmwarePublisher(
            store, self._file_server, self.registry, self._security_event
        )
        log.info("firmware files served on port %s", settings.listen_port)
        return self._publisher

    async def stop(self) -> None:
        """Close what `start` opened; safe after a partial start."""
        if self._publisher is not None:
            await self._publisher.close()
        if self._file_server is not None:
            await self._file_server.stop()
