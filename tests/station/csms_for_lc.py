"""A CSMS on 127.0.0.1 for the LC's own identity, built on the PyPI `ocpp` package: it answers
the LC's BootNotifications from a script and records every frame, over every connection."""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import websockets
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import Server, ServerConnection
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from lc.app import LocalController
from lc.config import parse_config
from ocpp_knowledge.ocpp_time import to_ocpp_time
from station.link import StationLink
from station.session import LinkState
from tests.peers import Cp201, RecordingConnection, on, wait_until

IDENTITY = "LC-GARAGE-1"


def station_config(csms: CsmsForLc, state_folder: Path, **station: Any) -> dict[str, Any]:
    """An LC config that only routes and has the identity IDENTITY at `csms`."""
    return {
        "router": {
            "upstream_url": f"{csms.scheme}://127.0.0.1:{csms.port}",
            "listen_host": "127.0.0.1",
            "listen_port": 0,
            "connection_loss": "close",
        },
        "metrics": {"listen_port": 0},
        "station": {
            "identity": IDENTITY,
            "csms_url": csms.url(IDENTITY),
            "serial": "SN-0001",
            "reconnect_wait_minimum_s": 0.1,
            "reconnect_random_range_s": 0,
            "state_path": str(state_folder / "station-state.json"),
            **station,
        },
    }


class LcAtCsms(Cp201):
    """The CSMS's side of the LC's own connection."""

    def __init__(self, identity: str, connection: RecordingConnection, csms: CsmsForLc) -> None:
        super().__init__(identity, connection)
        self._csms = csms
        self.identity = identity
        self.firmware_statuses: list[str] = []

    @on("BootNotification")
    def on_boot(self, **_: Any) -> result201.BootNotification:
        script = self._csms.boot_answers
        status, interval = script.pop(0) if len(script) > 1 else script[0]
        return result201.BootNotification(
            current_time=self._csms.current_time(), interval=interval, status=status
        )

    @on("Heartbeat")
    def on_heartbeat(self) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=self._csms.current_time())

    @on("LogStatusNotification")
    def on_log_status(self, **status: Any) -> result201.LogStatusNotification:
        self._csms.log_statuses.append(status)
        return result201.LogStatusNotification()

    @on("SecurityEventNotification")
    def on_security_event(self, **event: Any) -> result201.SecurityEventNotification:
        self._csms.security_events.append(event)
        if self._csms.refuse_security_events:
            raise RuntimeError("refused")  # the ocpp package answers InternalError
        return result201.SecurityEventNotification()

    @on("NotifyReport")
    def on_notify_report(self, **report: Any) -> result201.NotifyReport:
        self._csms.reports.append(report)
        return result201.NotifyReport()

    @on("ReportChargingProfiles")
    def on_report_charging_profiles(self, **report: Any) -> result201.ReportChargingProfiles:
        self._csms.profile_reports.append(report)
        return result201.ReportChargingProfiles()

    @on("MeterValues")
    def on_meter_values(self, **values: Any) -> result201.MeterValues:
        self._csms.meter_values.append(values)
        return result201.MeterValues()

    @on("NotifyChargingLimit")
    def on_notify_charging_limit(self, **notice: Any) -> result201.NotifyChargingLimit:
        self._csms.charging_limits.append(("NotifyChargingLimit", notice))
        return result201.NotifyChargingLimit()

    @on("ClearedChargingLimit")
    def on_cleared_charging_limit(self, **notice: Any) -> result201.ClearedChargingLimit:
        self._csms.charging_limits.append(("ClearedChargingLimit", notice))
        return result201.ClearedChargingLimit()

    @on("PublishFirmwareStatusNotification")
    def on_publish_firmware_status(
        self, **notice: Any
    ) -> result201.PublishFirmwareStatusNotification:
        self._csms.firmware_notices.append(notice)
        if self._csms.refuse_firmware_notices:
            raise RuntimeError("refused")  # the ocpp package answers InternalError
        return result201.PublishFirmwareStatusNotification()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, status: str, **_: Any) -> result201.FirmwareStatusNotification:
        self.firmware_statuses.append(status)  # a charger's, relayed by the LC
        return result201.FirmwareStatusNotification()

    @on("SignCertificate")
    def on_sign_certificate(self, csr: str, **_: Any) -> result201.SignCertificate:
        self._csms.csrs.append(csr)
        return result201.SignCertificate(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> result201.DataTransfer:
        return result201.DataTransfer(status="Accepted", data=f"csms saw {vendor_id}")


@dataclass
class CsmsForLc:
    # (status, interval) per BootNotification in turn; the last one answers all later ones.
    boot_answers: list[tuple[str, int]] = field(default_factory=lambda: [("Accepted", 300)])
    clock_offset_s: float = 0.0  # how far the CSMS's clock is ahead of the machine's
    reports: list[dict[str, Any]] = field(default_factory=list)  # NotifyReports, snake_case
    profile_reports: list[dict[str, Any]] = field(default_factory=list)  # snake_case
    csrs: list[str] = field(default_factory=list)  # the LC's SignCertificate requests
    meter_values: list[dict[str, Any]] = field(default_factory=list)  # the LC's, snake_case
    # The LC's NotifyChargingLimit / ClearedChargingLimit calls: (action, payload snake_case)
    charging_limits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # PublishFirmwareStatusNotifications, snake_case
    firmware_notices: list[dict[str, Any]] = field(default_factory=list)
    refuse_firmware_notices: bool = False  # answer them with a CALLERROR (still recorded)
    log_statuses: list[dict[str, Any]] = field(default_factory=list)  # snake_case
    # The LC's SecurityEventNotifications, snake_case, over every connection.
    security_events: list[dict[str, Any]] = field(default_factory=list)
    refuse_security_events: bool = False  # answer them with a CALLERROR (still recorded)
    stations: list[LcAtCsms] = field(default_factory=list)
    connections: list[RecordingConnection] = field(default_factory=list)
    server: Server | None = None
    port: int = 0
    ssl_context: ssl.SSLContext | None = None  # given: wss://
    subprotocol: str = "ocpp2.0.1"  # what it speaks

    @property
    def scheme(self) -> str:
        return "ws" if self.ssl_context is None else "wss"

    def current_time(self) -> str:
        return to_ocpp_time(datetime.now(UTC) + timedelta(seconds=self.clock_offset_s))

    @property
    def station(self) -> LcAtCsms:
        return self.stations[-1]

    def connected(self, identity: str) -> LcAtCsms:
        """The latest connection of `identity`: the LC's own, or a charger's through it."""
        return next(s for s in reversed(self.stations) if s.identity == identity)

    def url(self, identity: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/ocpp/{identity}"

    def calls(self) -> list[str]:
        """The actions of the LC's calls, over every connection, in order, but for its
        SecurityEventNotifications (they come at any time: see `security_events`)."""
        actions = []
        for connection in self.connections:
            for text in connection.received:
                frame = json.loads(text)
                if frame[0] == 2 and frame[2] != "SecurityEventNotification":
                    actions.append(frame[2])
        return actions

    def check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """The opening handshake: None lets it through (a subclass may refuse some)."""
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        recorder = RecordingConnection(ws)
        station = LcAtCsms(request.path.rsplit("/", 1)[-1], recorder, self)
        self.connections.append(recorder)
        self.stations.append(station)
        with contextlib.suppress(websockets.ConnectionClosed):
            await station.start()

    async def start(self) -> None:
        self.server = await websockets.serve(
            self._serve,
            "127.0.0.1",
            self.port,
            subprotocols=[Subprotocol(self.subprotocol)],
            ssl=self.ssl_context,
            process_request=self.check_request,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


@contextlib.asynccontextmanager
async def accepted_lc(config: dict[str, Any]) -> AsyncIterator[tuple[LocalController, StationLink]]:
    """A started LC from `config` (with a [station] table), once the CSMS Accepted its boot."""
    controller = LocalController(parse_config(config))
    await controller.start()
    try:
        link = controller.station
        assert link is not None
        await wait_until(lambda: link.session.state is LinkState.ACCEPTED, 10, "Accepted")
        yield controller, link
    finally:
        await controller.stop()
