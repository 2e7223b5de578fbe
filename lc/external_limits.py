"""An EMS's limit on the site (K14) wired up: its inputs (the HTTP endpoint, the Modbus register
the LC serves) set it, the balancer caps the site with it from its next period on, and the CSMS
hears of it over the LC's own link (NotifyChargingLimit / ClearedChargingLimit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge

from balancer.control import LoadBalancer
from balancer.external_limit import ExternalInput, ExternalLimit
from lc.allowed_clients import AllowedClients
from lc.external_limit_config import ExternalLimitSettings, ModbusLimitSettings
from modbus.link import TcpLink
from modbus.meter_map import READ_HOLDING_REGISTERS
from modbus.transport import RegisterServer
from ocpp_knowledge.composite import DEFAULT_PHASES
from ocpp_knowledge.security_events import RecordSecurityEvent
from station.charging_limit_notices import ChargingLimitNotices
from station.link import StationCallFailed, StationLink

log = logging.getLogger(__name__)

# A host refused at either input, or a wrong bearer token: an attempt to log in to a local
# interface that controls the site (the appendix's recommended tech info names the origin). It
# is critical, so the CSMS hears of it; the security log rate-limits it per type.
REFUSED_EVENT = "MaintenanceLoginFailed"


class ExternalLimits:
    def __init__(
        self,
        settings: ExternalLimitSettings,
        balancer: LoadBalancer,
        link: StationLink | None,
        registry: CollectorRegistry,
        record_security_event: RecordSecurityEvent,
    ) -> None:
        self.settings = settings
        self._record_security_event = record_security_event
        watchdog = settings.modbus.watchdog if settings.modbus is not None else None
        self.limit = ExternalLimit(watchdog)
        # SmartChargingCtrlr.LimitChangeSignificance, percent (the CSMS may change it).
        self.significance_pct = settings.significance_pct
        self.voltage_v = balancer.config.nominal_voltage_v
        self._notices = ChargingLimitNotices()
        self._link = link
        self._changed = asyncio.Event()
        self._server: RegisterServer | None = None
        self._gauge = Gauge(
            "ocpp_lc_external_limit_amperes",
            "The site limit an EMS set from outside OCPP, A per phase, by input (absent: none)",
            ["input"],
            registry=registry,
        )
        balancer.external_limit_a = self._limit_at

    def _limit_at(self, now: datetime) -> float | None:
        return self.limit.limit_a(now.timestamp())

    def set(self, source: ExternalInput, amps: float | None, expires_at: float | None) -> None:
        self.limit.set(source, amps, time.time(), expires_at)
        log.info("external limit over %s: %s", source.value, "none" if amps is None else amps)
        self._changed.set()

    def release(self, source: ExternalInput) -> None:
        self.limit.release(source)
        log.info("external limit over %s released", source.value)
        self._changed.set()

    def use_allowed_clients(self, allowed: AllowedClients | None) -> None:
        """A reloaded allow-list: from the next request on; a Modbus connection from a host
        it no longer admits is closed."""
        self.settings = replace(self.settings, allowed_clients=allowed)
        if self._server is not None:
            self._server.recheck_clients()

    def admits(self, host: str, via: ExternalInput) -> bool:
        """Whether a client at `host` may use an input; a refusal is a security event."""
        allowed = self.settings.allowed_clients
        if allowed is None or allowed.admits(host):
            return True
        self.refused(host, via, "its address is not in external_limit.allowed_clients")
        return False

    def refused(self, host: str, via: ExternalInput, why: str) -> None:
        origin = {"user": "ems", "origin": host}
        self._record_security_event(
            REFUSED_EVENT, f"{origin} external limit over {via.value}: {why}"
        )

    def amps_of_watts(self, watts: float) -> float:
        """A whole-site power limit as A per phase at the site's nominal voltage."""
        return watts / (self.voltage_v * DEFAULT_PHASES)

    async def start_modbus(self) -> int | None:
        """Serve the EMS's register, if configured; the port it listens on."""
        modbus = self.settings.modbus
        if modbus is None:
            return None
        self._server = RegisterServer(
            {READ_HOLDING_REGISTERS: {modbus.register: modbus.no_limit_value}},
            link=TcpLink(modbus.listen_host, modbus.listen_port),
            unit_id=modbus.unit_id,
            on_write=lambda _address, values: self._modbus_written(modbus, values[0]),
            admits=lambda host: self.admits(host, ExternalInput.MODBUS),
        )
        await self._server.start()
        return self._server.link.port

    def _modbus_written(self, modbus: ModbusLimitSettings, count: int) -> bool:
        if count == modbus.no_limit_value:
            amps = None
        else:
            value = count * modbus.scale
            amps = value if modbus.unit == "A" else self.amps_of_watts(value)
        self.set(ExternalInput.MODBUS, amps, None)
        return True

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    async def run(self) -> None:
        """Report every change to the CSMS as it comes, and those an expiry or the watchdog
        bring when their time comes."""
        while True:
            self._changed.clear()
            now = time.time()
            self._show(now)
            await self._report(self.limit.limit_a(now))
            due = self.limit.next_change(now)
            timeout = None if due is None else max(due - time.time(), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def _show(self, now: float) -> None:
        for source in ExternalInput:
            amps = self.limit.of(source, now)
            if amps is not None:
                self._gauge.labels(source.value).set(amps)
            else:
                with contextlib.suppress(KeyError):  # never shown
                    self._gauge.remove(source.value)

    async def _report(self, limit_a: float | None) -> None:
        if self._link is None:
            return
        notice = self._notices.change(limit_a, self.significance_pct)
        if notice is None:
            return
        action, payload = notice
        try:
            await self._link.call(action, payload)
        except StationCallFailed as failed:
            log.warning("%s to the CSMS: %s", action, failed)
