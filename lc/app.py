"""The running Local Controller: router, load balancer and metrics endpoint, started together."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from balancer.control import LoadBalancer
from balancer.external_limit import ExternalInput
from certificates.expiry import CertificateExpiry, CertificatesByUse, from_files, from_managed
from certificates.own_identity import OwnCertificate, OwnCertificates
from certificates.trust_store import TrustStore
from certificates.upstream_tls import managed_upstream_context
from config_file.table import ConfigError
from firmware.config import FirmwareSettings
from firmware.publisher import FirmwarePublisher
from firmware.releases import FOLDER as RELEASES_FOLDER
from firmware.releases import Releases
from firmware.server import FileServer
from firmware.store import FirmwareStore
from lc.balancer_status import balancer_status
from lc.config import SiteConfig, load_config
from lc.external_limit_http import add_routes
from lc.external_limits import ExternalLimits
from lc.own_meter_values import AlignedMeterValues
from lc.security import LcSecurity
from lc.site_view import SiteView
from lc.software import LcSoftware
from lc.station_certificates import CertificatesAtCsms
from lc.station_firmware import wire_firmware
from lc.station_model import (
    aligned_settings,
    answer_device_model,
    device_model,
    effective_balancer,
    site_limit,
)
from lc.station_reset import ResetAtCsms
from lc.station_security import (
    BasicAuthPassword,
    CertificateSettingsInForce,
    report_trust_changes,
)
from lc.station_self_update import SelfUpdateAtCsms
from lc.status_page import (
    ExternalLimitStatus,
    SecurityStatus,
    StationStatus,
    StatusSnapshot,
    render,
)
from modbus.reader import MeterReader
from router.frames import OcppVersion
from router.metrics import metrics_app
from router.schemas import default_registry
from router.server import Router
from router.start_error import StartError, listen_failure
from router.upstream import UpstreamSettings
from station.boot_reason import NextBootReason
from station.config import StationConfig, network_profiles
from station.link import StationLink, StationSettings
from station.overrides import Overrides
from station.session import StationSession
from supervision.gc_freeze import FrozenObjects, LinkFreezer
from supervision.heap import HeapReleaser
from supervision.tasks import REGISTRY as TASK_REGISTRY
from supervision.tasks import Tasks, end

log = logging.getLogger(__name__)

# How long stopping may take after SIGTERM/SIGINT; systemd's TimeoutStopSec is above it.
SHUTDOWN_BOUND_S = 15.0
# The security log's latest events on the status page.
SECURITY_EVENTS_SHOWN = 10


class ShutdownOverrun(RuntimeError):
    """Stopping took longer than SHUTDOWN_BOUND_S: the process must exit regardless."""


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
        self.station = _station_link(config)
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
        self.firmware: FirmwarePublisher | None = None  # PublishFirmware's handlers
        # The site meter as the LC's own MeterValues: with a station link and a meter.
        self.own_meter_values: AlignedMeterValues | None = None
        self.external_limits: ExternalLimits | None = None  # with [external_limit]
        self.external_limit_modbus_port: int | None = None
        self._file_server: FileServer | None = None
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

    def _use_managed_upstream_tls(self) -> None:
        """Towards a wss:// CSMS, the newest renewed certificate and the installed CSMS roots
        (kept across restarts), besides what [router.upstream_tls] names: for the chargers'
        CSMS links and the LC's own."""
        configured = self.config.router.upstream_tls
        if configured is None or self.trust_store is None or self.own_certificates is None:
            return
        context = managed_upstream_context(
            configured, self.own_certificates, self.trust_store, datetime.now(UTC)
        )
        self.router.use_upstream_tls(context)
        station = self.config.station
        if self.station is not None and station is not None and station.ssl_context is not None:
            self.station.use_ssl_context(context)  # the same TLS client settings: wss://

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
        self._use_managed_upstream_tls()
        await self.router.start()
        if self.config.firmware is not None:
            registries.append(await self._start_firmware(self.config.firmware))
        if self.balancer is not None:
            self._balancer_task = self._tasks.spawn(self.balancer.run(), "balancer")
        if self.station is not None:
            self._start_own_meter_values(self.station)
            answer_device_model(self.station, device_model(self, self._overrides))
            assert self.config.station is not None  # the link exists only with [station]
            site_limit(self.station, self.balancer, self.config.station.state_path)
            # Firmware and certificates speak 2.0.1's messages only (block L, block M).
            if self.station.session.dialect.version is OcppVersion.V201:
                if self.firmware is not None:
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
            self.config.external_limit, balancer, self.station if v201 else None, registry
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
        if link.session.dialect.version is not OcppVersion.V201:
            return  # a 1.6 MeterValues has no EVSE 0 of a site: 2.0.1 only
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
        report_trust_changes(link, self.security.events.record)
        in_force.on_change(at_csms.certificates.use_settings)

    def _configured_upstream_certificate(self) -> Path | None:
        # From the config in force: SIGHUP may name another file.
        upstream = self.config.router.upstream_tls
        return upstream.certificate if upstream is not None else None

    def _use_renewed_certificate(self, renewed: OwnCertificate) -> None:
        """A02.FR.08: new CSMS links present the renewed certificate; open ones move to it."""
        log.info(
            "renewed charging-station certificate %x in use", renewed.certificate.serial_number
        )
        self.security.events.record(
            "ReconfigurationOfSecurityParameters",
            f"renewed charging-station certificate {renewed.certificate.serial_number:x} in use",
        )
        self._use_managed_upstream_tls()
        self._tasks.spawn(self.router.redial_csms_links(), "redial CSMS links")

    async def _start_firmware(self, settings: FirmwareSettings) -> CollectorRegistry:
        """The firmware store, its file server and the publisher; their metrics registry."""
        registry = CollectorRegistry()
        try:
            store = FirmwareStore(settings.folder, settings.max_bytes)
        except OSError as exc:
            raise StartError("firmware.folder", f"cannot use it: {exc.strerror}") from exc
        self._file_server = FileServer(
            store,
            settings.public_host,
            registry,
            settings.max_fetches,
            settings.max_fetches_per_client,
        )
        listeners: list[tuple[str, str, int, ssl.SSLContext | None]] = [
            ("http", "listen_port", settings.listen_port, None)
        ]
        if settings.https_port is not None:
            tls = self.config.router.server_ssl
            listeners.append(("https", "https_port", settings.https_port, tls))
        for scheme, key, port, context in listeners:
            try:
                await self._file_server.listen(scheme, settings.listen_host, port, context)
            except OSError as exc:
                raise listen_failure("firmware", settings.listen_host, port, exc, key) from exc
        self.firmware = FirmwarePublisher(
            store, self._file_server, registry, self.security.events.record
        )
        log.info("firmware files served on port %s", settings.listen_port)
        return registry

    async def status(self) -> StatusSnapshot:
        view, journal = self.site_view, self.router.journal
        return StatusSnapshot(
            time.time(),
            list(view.chargers.values()),
            list(view.ended),
            balancer_status(self.balancer) if self.balancer is not None else None,
            await journal.backlog() if journal is not None else {},
            self.router.backlogs_waiting_for_charger(),
            expected=self._expected_chargers(),
            started_at=self._started_at,
            certificate_expiry=self.certificate_expiry.earliest(),
            csms_certificate_invalid=self.router.csms_certificate_invalid,
            station=self._station_status(),
            external_limit=self._external_limit_status(),
            security=self._security_status(),
            software=self.software.status(),
        )

    def _security_status(self) -> SecurityStatus:
        security = self.security
        return SecurityStatus(
            security.events.log.events[-SECURITY_EVENTS_SHOWN:][::-1],
            len(security.events.log.unsent()) if self.station is not None else 0,
            security.network_profile_counts["relayed"],
            security.network_profile_counts["rejected"],
        )

    def _external_limit_status(self) -> ExternalLimitStatus | None:
        if self.external_limits is None or self.balancer is None:
            return None
        now, limit = time.time(), self.external_limits.limit
        return ExternalLimitStatus(
            limit.of(ExternalInput.HTTP, now),
            limit.of(ExternalInput.MODBUS, now),
            self.balancer.cap,
        )

    def _station_status(self) -> StationStatus | None:
        if self.station is None:
            return None
        session, network = self.station.session, self.station.network
        return StationStatus(
            self.station.settings.identity,
            session.state.value,
            session.boot_status,
            self.station.reconnects,
            None if self.balancer is None else self.balancer.cap,
            {} if self._overrides is None else self._overrides.in_force(),
            network.last_connected,
            network.active.url,
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
        if self.firmware is not None:
            await self.firmware.close()
        if self._file_server is not None:
            await self._file_server.stop()
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
        if self.balancer is not None and config.balancer is not None:
            self.balancer.apply_config(effective_balancer(config.balancer, self._overrides))
        self.config = config
        log.info("config reloaded from %s", self._config_path)

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


def _station_link(config: SiteConfig) -> StationLink | None:
    """The LC's own connection to the CSMS, when the config gives it an identity."""
    station = config.station
    if station is None:
        return None
    boot_reason = NextBootReason(station.state_path.parent).take()
    session = StationSession(
        station.description, default_registry(), station.timers, boot_reason, station.dialect
    )
    dialer = UpstreamSettings(
        base_url=station.csms_url,
        connect_timeout_s=config.router.connect_timeout_s,
        ping_interval_s=config.router.ping_interval_s,
        max_frame_bytes=config.router.session.max_frame_chars,
        # A wss:// profile the CSMS sets is dialled with the router's TLS settings too.
        ssl_context=station.ssl_context or config.router.upstream_ssl,
    )
    password = BasicAuthPassword(station).value  # the CSMS may have rotated it (A01)
    settings = StationSettings(station.identity, password, station.backoff)
    return StationLink(settings, session, dialer, network_profiles(station, config.router))


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
    gc.freeze()
    freezer = LinkFreezer()  # and then the links, once their connects settle
    controller.router.subscribe(freezer.handle)
    heap = HeapReleaser()  # the C heap's free pages back to the system every minute
    ends = [asyncio.ensure_future(e.wait()) for e in (stop, controller.restart_requested)]
    try:
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
    finally:
        freezer.close()
        heap.close()
        for end in ends:
            end.cancel()
        # A peer that never finishes its close handshake must not hold the LC up: past the
        # bound, what is still open is abandoned (the journal is crash-safe, `kill -9` too).
        try:
            await asyncio.wait_for(controller.stop(), SHUTDOWN_BOUND_S)
        except TimeoutError:
            raise ShutdownOverrun(f"not stopped within {SHUTDOWN_BOUND_S:.0f} s") from None
