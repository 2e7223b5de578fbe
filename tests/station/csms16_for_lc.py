"""A 1.6 CSMS on 127.0.0.1 for the LC's own identity (`[station] ocpp_version = "1.6"`), built on
the PyPI `ocpp` package's v16 ChargePoint: it answers the LC's BootNotifications from the same
script as the 2.0.1 one and records what the LC sends."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import websockets
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from websockets.asyncio.server import ServerConnection

from tests.peers import Cp16, RecordingConnection, on
from tests.station.csms_for_lc import CsmsForLc


class LcAtCsms16(Cp16):
    """The 1.6 CSMS's side of the LC's own connection."""

    def __init__(self, identity: str, connection: RecordingConnection, csms: CsmsForLc16) -> None:
        super().__init__(identity, connection)
        self._csms = csms
        self.boots: list[dict[str, Any]] = []  # BootNotification.req, snake_case
        self.statuses: list[dict[str, Any]] = []  # StatusNotification.req, snake_case

    @on("BootNotification")
    def on_boot(self, **boot: Any) -> result16.BootNotification:
        self.boots.append(boot)
        script = self._csms.boot_answers
        status, interval = script.pop(0) if len(script) > 1 else script[0]
        return result16.BootNotification(
            current_time=self._csms.current_time(), interval=interval, status=status
        )

    @on("Heartbeat")
    def on_heartbeat(self) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=self._csms.current_time())

    @on("StatusNotification")
    def on_status(self, **status: Any) -> result16.StatusNotification:
        self.statuses.append(status)
        return result16.StatusNotification()

    @on("SecurityEventNotification")
    def on_security_event(self, **event: Any) -> result16.SecurityEventNotification:
        self._csms.security_events.append(event)
        return result16.SecurityEventNotification()

    @on("LogStatusNotification")
    def on_log_status(self, **status: Any) -> result16.LogStatusNotification:
        self._csms.log_statuses.append(status)
        return result16.LogStatusNotification()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, status: str) -> result16.FirmwareStatusNotification:
        self._csms.firmware_statuses.append(status)  # of the LC's own update, across reboots
        return result16.FirmwareStatusNotification()

    @on("SignCertificate")
    def on_sign_certificate(self, csr: str) -> result16.SignCertificate:
        self._csms.csrs.append(csr)
        return result16.SignCertificate(status="Accepted")

    @on("SignedFirmwareStatusNotification")
    def on_signed_firmware_status(self, **status: Any) -> result16.SignedFirmwareStatusNotification:
        self._csms.signed_firmware_statuses.append(status)
        return result16.SignedFirmwareStatusNotification()

    @on("MeterValues")
    def on_meter_values(self, **values: Any) -> result16.MeterValues:
        self._csms.meter_values.append(values)
        return result16.MeterValues()

    @on("DiagnosticsStatusNotification")
    def on_diagnostics_status(self, **_: Any) -> result16.DiagnosticsStatusNotification:
        return result16.DiagnosticsStatusNotification()


@dataclass
class CsmsForLc16(CsmsForLc):
    subprotocol: str = "ocpp1.6"
    stations16: list[LcAtCsms16] = field(default_factory=list)
    firmware_statuses: list[str] = field(default_factory=list)
    # SignedFirmwareStatusNotifications, snake_case
    signed_firmware_statuses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def station16(self) -> LcAtCsms16:
        """The LC's latest connection."""
        return self.stations16[-1]

    async def _serve(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        recorder = RecordingConnection(ws)
        station = LcAtCsms16(request.path.rsplit("/", 1)[-1], recorder, self)
        self.connections.append(recorder)
        self.stations16.append(station)
        with contextlib.suppress(websockets.ConnectionClosed):
            await station.start()


async def change_configuration(lc_at_csms: LcAtCsms16, changes: list[tuple[str, str, str]]) -> None:
    """ChangeConfiguration of each (key, value) in turn, answered with the status given."""
    answered = []
    for key, value, _ in changes:
        answer = await lc_at_csms.call(call16.ChangeConfiguration(key=key, value=value))
        answered.append((key, value, answer.status))
    assert answered == changes
