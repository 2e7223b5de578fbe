"""The running Local Controller: router, load balancer and metrics endpoint, started together."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from balancer.control import LoadBalancer
from certificates.expiry import CertificateExpiry, CertificatesByUse, from_files, from_managed
from certificates.own_identity import OwnCertificate, OwnCertificates
from certificates.trust_store import TrustStore
from config_file.table import ConfigError
from firmware.publisher import FirmwarePublisher
from firmware.releases import FOLDER as RELEASES_FOLDER
from firmware.releases import Releases
from lc.client_certificate import ClientCertificateAtCsms, OwnLinkAtCsms
from lc.config import SiteConfig, load_config
from lc.external_limit_config import ExternalLimitSettings
from lc.external_limit_http import add_routes
from lc.external_limits import ExternalLimits
from lc.firmware_service import FirmwareService
from lc.own_meter_values import AlignedMeterValues
from lc.security import LcSecurity
from lc.site_view import SiteView
from lc.software import LcSoftware
from lc.station_certificates import CertificatesAtCsms
from lc.station_firmware import wire_firmware
from lc.station_link import station_link
from lc.station_model import (
    aligned_settings,
    answer_device_model,
    device_model,
    effective_balancer,
    site_limit,
)
from lc.station_reset import ResetAtCsms
from lc.station_security import (
    CertificateSettingsInForce,
    report_trust_changes,
)
from lc.station_self_update import SelfUpdateAtCsms
from lc.status_page import render
from lc.status_page.snapshot import StatusSnapshot
from lc.status_snapshot import status_snapshot
from modbus.reader import MeterReader
from router.frames import OcppVersion
from router.metrics import metrics_app
from router.server import Router
from router.start_error import listen_failure
from station.boot_reason import NextBootReason
from station.config import StationConfig
from station.link import StationLink
from station.overrides import Overrides
from supervision.gc_freeze import FrozenObjects
from supervision.loop_lag import REGISTRY as LOOP_LAG_REGISTRY
from supervision.tasks import REGISTRY as TASK_REGISTRY
from supervision.tasks import Tasks, end

log = logging.getLogger(__name__)


class LocalController:
    def __init__(
        self, config: SiteConfig, config_path: Path | None = None, launched: bool = False
    ) -> None:
        self.config = config
        self._config_path = config_path
        # Run by `ocpp-lc launch`, which starts it again into a new release: it may update itself.
        self._launched = launched
        self.router = Router(config.router)
        self.site_view = SiteView()
        self.router.subscribe(lambda event: self.site_view.handle(event, time.time()))
        self.security = LcSecurity(config)
        self.router.subscribe(self.security.observe)
        self.balancer: LoadBalancer | None = None
        self._tasks = Tasks()
        self._balancer_task: asyncio.Task[None] | None = None
        self._station_task: asyncio.Task[None] | None = None
        self.station = station_link(config)
        self._overrides = Overrides(config.station.state_path) if config.station else None
        self._meter: MeterReader | None = None
        self._panel_meters: dict[str, MeterReader] = {}  # sub-meters, by panel name
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None
        self._started_at = time.time()
        state_folder = config.station.state_path.parent if config.station else None
        releases = None if state_folder is None else Releases(state_folder / RELEASES_FOLDER)
        self.software = LcSoftware(releases, self._started_at)
        managed = config.certificates
        # What the CSMS manages: its installed roots, the LC's renewed certificates.
        self.trust_store = TrustStore(managed.trust_folder) if managed is not None else None
        self.own_certificates = OwnCertificates(managed.own_folder) if managed is not None else None
        # With the CSMS's SecurityCtrlr changes on top.
        self.certificate_settings = (
            CertificateSettingsInForce(managed, self._overrides)
            if managed is not None and self._overrides is not None
            else None
        )
        self.certificate_expiry = CertificateExpiry(*self._certificate_sources())
        # With [certificates] and a wss:// CSMS: which certificate the LC presents there.
        self.client_certificate: ClientCertificateAtCsms | None = None
        self._certificates_at_csms: CertificatesAtCsms | None = None  # over the LC's own link
        self.firmware: FirmwarePublisher | None = None  # PublishFirmware's handlers
        # The site meter as the LC's own MeterValues: with a station link and a meter.
        self.own_meter_values: AlignedMeterValues | None = None
        self.external_limits: ExternalLimits | None = None  # with [external_limit]
        self.external_limit_modbus_port: int | None = None
        self._firmware_service: FirmwareService | None = None
        # Set when the LC is to end and start again (a Reset, a new release installed).
        self.restart_requested = asyncio.Event()
        self._stopping: asyncio.Future[None] | None = None  # the one stop, once asked for

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

    def _certificate_sources(self) -> list[CertificatesByUse]:
        # Read at each scrape from the config in force: SIGHUP may name or renew files.
        sources = [from_files(lambda: self.config.router.certificate_files)]
        if self.trust_store is not None and self.own_certificates is not None:
            clock = partial(datetime.now, UTC)
            sources.append(from_managed(self.trust_store, self.own_certificates, clock))
        return sources

    def use_managed_upstream_tls(self) -> None:
        """Towards a wss:// CSMS, the LC's renewed certificates and the installed CSMS roots
        (kept across restarts), besides what [router.upstream_tls] names: for the chargers'
        CSMS links (with that table) and the LC's own. Called again whenever a CA certificate
        is installed or deleted, so that the next dials trust it, or no longer do, at once."""
        if self.trust_store is None or self.own_certificates is None:
            return
        if self.client_certificate is not None:
            self.client_certificate.refresh()
            return
        station = self.config.station
        # Only the LC's own link over TLS can tell whether the CSMS takes a renewed certificate.
        judges = station is not None and station.ssl_context is not None
        self.client_certificate = ClientCertificateAtCsms(
            self.config.router.upstream_tls,
            self.own_certificates,
            self.trust_store,
            self.router,
            OwnLinkAtCsms(self.station, judges) if self.station is not None else None,
            self._tasks,
            self.security.events.record,
            self._renewed_discarded,
        )
        self.client_certificate.start()

    def _renewed_discarded(self) -> None:
        if self._certificates_at_csms is not None:
            self._certificates_at_csms.certificates.renewed_discarded()

    async def _start(self) -> None:
        certificates = CollectorRegistry()
        certificates.register(self.certificate_expiry)
        garbage_collector = CollectorRegistry()
        garbage_collector.register(FrozenObjects())
        registries = [
            self.router.metrics.registry,
            TASK_REGISTRY,
            certificates,
            self.security.registry,
            self.software.registry,
            garbage_collector,
            LOOP_LAG_REGISTRY,
        ]
        self.security.start(self.station, self._tasks, self.trust_store)
        if self.config.balancer is not None:
            self._meter = MeterReader(self.config.balancer.meter.reader)
            self._panel_meters = {
                panel.name: MeterReader(panel.meter.reader)
                for panel in self.config.balancer.panels
                if panel.meter is not None
            }
            effective = effective_balancer(self.config.balancer, self._overrides)
            self.balancer = LoadBalancer(
                effective, self.router, self._meter, panel_meters=self._panel_meters
            )
            for warning in self.config.balancer.warnings:
                log.warning("config: %s", warning)
            registries.append(self.balancer.metrics.registry)
            if self.config.external_limit is not None:
                registries.append(await self._start_external_limits(self.balancer))
        self.use_managed_upstream_tls()
        await self.router.start()
        if self.config.firmware is not None:
            self._firmware_service = FirmwareService(
                self.config.firmware, self.config.router.server_ssl, self.security.events.record
            )
            registries.append(self._firmware_service.registry)
            self.firmware = await self._firmware_service.start()
        if self.balancer is not None:
            self._balancer_task = self._tasks.spawn(self.balancer.run(), "balancer")
        if self.station is not None:
            self._start_own_meter_values(self.station)
            answer_device_model(self.station, device_model(self, self._overrides))
            assert self.config.station is not None  # the link exists only with [station]
            site_limit(self.station, self.balancer, self.config.station.state_path)
            # PublishFirmware is 2.0.1's only (block L); 1.6 has the certificates' messages in
            # its security whitepaper.
            v201 = self.station.session.dialect.version is OcppVersion.V201
            if self.firmware is not None and v201:
                wire_firmware(self.station, self.firmware, self._tasks)
            self._wire_certificates(self.station)
            self._wire_lifecycle(self.station, self.config.station)
            self._station_task = self._tasks.spawn(self.station.run(), "station")
        app = metrics_app(registries)
        app.router.add_get("/", self._status_page)
        external = self.config.external_limit
        if self.external_limits is not None and external and external.http_token_sha256:
            add_routes(app, self.external_limits, external.http_token_sha256)
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
        self.security.started()
        log.info(
            "status page on http://%s:%s/, metrics on /metrics",
            settings.listen_host,
            self.metrics_port,
        )

    async def _start_external_limits(self, balancer: LoadBalancer) -> CollectorRegistry:
        """The EMS's inputs (K14): its Modbus register served, its limit capping the balancer
        and reported to the CSMS; their metrics registry."""
        assert self.config.external_limit is not None
        registry = CollectorRegistry()
        # NotifyChargingLimit and ClearedChargingLimit are 2.0.1's: a 1.6 CSMS hears nothing.
        v201 = self.station is not None and self.station.session.dialect.version is OcppVersion.V201
        self.external_limits = ExternalLimits(
            self.config.external_limit,
            balancer,
            self.station if v201 else None,
            registry,
            self.security.events.record,
        )
        modbus = self.config.external_limit.modbus
        try:
            self.external_limit_modbus_port = await self.external_limits.start_modbus()
        except OSError as exc:
            assert modbus is not None
            raise listen_failure(
                "external_limit.modbus", modbus.listen_host, modbus.listen_port, exc
            ) from exc
        self._tasks.spawn(self.external_limits.run(), "external limits")
        return registry

    def _start_own_meter_values(self, link: StationLink) -> None:
        station, balancer = self.config.station, self.config.balancer
        if station is None or balancer is None or self._meter is None or self._overrides is None:
            return
        interval_s, measurands = aligned_settings(station, self._overrides)
        stale_after_s = balancer.meter.stale_after_s
        self.own_meter_values = AlignedMeterValues(
            link, self._meter, stale_after_s, interval_s, measurands
        )
        link.on_trigger("MeterValues", self.own_meter_values.send_triggered)
        self._tasks.spawn(self.own_meter_values.run(), "own meter values")

    def _wire_lifecycle(self, link: StationLink, station: StationConfig) -> None:
        """Reset, and with a launcher to restart into a new release, UpdateFirmware."""
        state_folder = station.state_path.parent
        next_boot = NextBootReason(state_folder)
        restart = self.restart_requested.set
        reset = ResetAtCsms(link, self._backlogged, next_boot, self.security.reset, restart)
        reset.wire()
        self.software.reset = reset
        if self._launched and self.software.releases is not None:
            SelfUpdateAtCsms(
                link,
                self.trust_store,
                self.software.releases,
                next_boot,
                self.security.events.record,
                restart,
                station,
                self.software.updates,
            ).wire()

    async def _backlogged(self) -> bool:
        """Whether the journal holds frames not yet delivered to the CSMS."""
        journal = self.router.journal
        return journal is not None and bool(await journal.backlog())

    def _wire_certificates(self, link: StationLink) -> None:
        """With [certificates], the CSMS manages them over the LC's own link."""
        in_force = self.certificate_settings
        if in_force is None or self.trust_store is None or self.own_certificates is None:
            return
        at_csms = CertificatesAtCsms(
            link,
            in_force.current,
            self.trust_store,
            self.own_certificates,
            self._use_renewed_certificate,
            self._tasks,
            self.security.events.record,
            configured_certificate=self._configured_upstream_certificate,
        )
        at_csms.wire()
        self._certificates_at_csms = at_csms
        report_trust_changes(link, self.security.events.record, self.use_managed_upstream_tls)
        in_force.on_change(at_csms.certificates.use_settings)

    def _configured_upstream_certificate(self) -> Path | None:
        # From the config in force: SIGHUP may name another file.
        upstream = self.config.router.upstream_tls
        return upstream.certificate if upstream is not None else None

    def _use_renewed_certificate(self, renewed: OwnCertificate) -> None:
        """A02.FR.08: the LC's own link reconnects with the renewed certificate; the chargers'
        CSMS links follow once it connected (`ClientCertificateAtCsms`)."""
        serial = renewed.certificate.serial_number
        log.info("renewed charging-station certificate %x stored", serial)
        self.security.events.record(
            "ReconfigurationOfSecurityParameters",
            f"renewed charging-station certificate {serial:x} stored",
        )
        if self.client_certificate is not None:
            self.client_certificate.renewed()

    async def status(self) -> StatusSnapshot:
        return await status_snapshot(self, self._started_at, self._overrides)

    async def _status_page(self, _request: web.Request) -> web.Response:
        return web.Response(text=render(await self.status()), content_type="text/html")

    async def stop(self) -> None:
        """Close everything opened so far; safe after a partial start.

        Every call waits for the one stop: a SIGTERM during a failed start's clean-up does not
        close things twice. A caller that gives up waiting (the shutdown bound) leaves it
        running rather than cut half-way.
        """
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        # The station link and the balancer first: they send through the router.
        await end([task for task in (self._station_task, self._balancer_task) if task is not None])
        await self._tasks.stop()  # the rest: firmware notices, certificate renewal, redials
        if self.balancer is not None:
            await self.balancer.stop()
        if self.external_limits is not None:
            await self.external_limits.stop()
        if self._firmware_service is not None:
            await self._firmware_service.stop()
        await self.router.stop()
        if self._meter is not None:
            self._meter.close()
        for panel_meter in self._panel_meters.values():
            panel_meter.close()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
            self._metrics_runner = None
        await self.security.stop()

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
        self._reload_external_limit(config.external_limit)
        if self.balancer is not None and config.balancer is not None:
            self.balancer.apply_config(effective_balancer(config.balancer, self._overrides))
        self.config = config
        log.info("config reloaded from %s", self._config_path)

    def _reload_external_limit(self, reloaded: ExternalLimitSettings | None) -> None:
        """A changed allow-list applies at once (a host to shut out must not wait for a
        restart); the EMS's inputs themselves (ports, token, register) at the next restart."""
        running = self.config.external_limit
        if reloaded == running:
            return
        if self.external_limits is not None and reloaded is not None:
            if reloaded.allowed_clients != self.external_limits.settings.allowed_clients:
                self.external_limits.use_allowed_clients(reloaded.allowed_clients)
                log.info("external_limit.allowed_clients reloaded")
                self.security.events.record(
                    "ReconfigurationOfSecurityParameters",
                    "external_limit.allowed_clients changed on reload",
                )
            if _inputs(reloaded) == _inputs(self.external_limits.settings):
                return
        log.warning("[external_limit] changed beyond allowed_clients: at the next restart")

    def _renew_server_certificates(self, config: SiteConfig) -> None:
        """Renewed certificate files (the same paths) apply to new charger connections."""
        renewed = config.router.server_ssl
        if renewed is None and self.config.router.server_ssl is None:
            return
        if renewed is not None and self.router.use_server_certificates(renewed):
            log.info("[router.tls] certificates re-read: new charger connections get them")
            self.security.events.record(
                "ReconfigurationOfSecurityParameters",
                "[router.tls] certificates re-read on reload: new charger connections get them",
            )
        else:
            log.warning("[router.tls] changed beyond its certificates: at the next restart")


def _inputs(settings: ExternalLimitSettings) -> ExternalLimitSettings:
    """The settings a reload cannot change in a running LC: all but the allow-list."""
    return replace(settings, allowed_clients=None)
