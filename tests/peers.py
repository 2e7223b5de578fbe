"""Independent OCPP peers for tests: a CSMS and charge points built on the PyPI `ocpp` package
(over the `websockets` library, not the LC's aiohttp stack), recording every raw frame."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
import websockets
from ocpp.exceptions import NotSupportedError as OcppNotSupportedError
from ocpp.routing import after as untyped_after
from ocpp.routing import on as untyped_on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import Server, ServerConnection
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

if TYPE_CHECKING:
    # The PyPI `ocpp` package ships no type information: to mypy its ChargePoint classes are
    # Any. This is the part of their interface the peers use, typed.
    class OcppChargePoint:
        def __init__(self, charge_point_id: str, connection: RecordingConnection) -> None: ...
        async def start(self) -> None: ...
        async def call(
            self, payload: Any, suppress: bool = True, unique_id: str | None = None
        ) -> Any: ...
        async def route_message(self, raw_msg: str) -> None: ...
        async def _handle_call(self, msg: Any) -> None: ...

    Cp16 = OcppChargePoint
    Cp201 = OcppChargePoint
    CsmsStationBase = OcppChargePoint
else:
    from ocpp.v16 import ChargePoint as Cp16
    from ocpp.v201 import ChargePoint as Cp201

    CsmsStationBase = object

Handler = TypeVar("Handler", bound=Callable[..., Any])


class _Startable(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


Startable = TypeVar("Startable", bound=_Startable)


@contextlib.asynccontextmanager
async def running(server: Startable) -> AsyncIterator[Startable]:
    """`server` (a test CSMS of either kind) started, and stopped when the block ends."""
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def on(action: str) -> Callable[[Handler], Handler]:
    """`ocpp.routing.on`, typed: it marks the handler and returns it unchanged."""
    mark: Callable[[Handler], Handler] = untyped_on(action)
    return mark


def after(action: str) -> Callable[[Handler], Handler]:
    """`ocpp.routing.after`, typed like `on`."""
    mark: Callable[[Handler], Handler] = untyped_after(action)
    return mark


SUBPROTOCOLS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class RecordingConnection:
    """A websockets connection that keeps every text frame it carried, as received/sent."""

    def __init__(self, ws: ClientConnection | ServerConnection) -> None:
        self.ws = ws
        self.received: list[str] = []
        self.sent: list[str] = []
        self.log: list[tuple[str, str]] = []  # ("in" | "out", frame) in the order they happened

    async def recv(self) -> str:
        message = await self.ws.recv()
        assert isinstance(message, str)
        self.received.append(message)
        self.log.append(("in", message))
        return message

    async def send(self, message: str) -> None:
        self.sent.append(message)
        self.log.append(("out", message))
        await self.ws.send(message)


# -- CSMS --------------------------------------------------------------------------------------


class CsmsStationMixin(CsmsStationBase):
    """The CSMS's side of one charger, in either version: waits `answer_delay_s` before
    handling each frame (replay tests) and records each call it handled, once answered."""

    def __init__(self, identity: str, connection: RecordingConnection) -> None:
        super().__init__(identity, connection)
        self.actions: list[str] = []  # actions of the calls handled, in order
        self.answer_delay_s = 0.0
        self.boot_status = "Accepted"  # what BootNotifications are answered with
        self.refused_tags: dict[str, str] = {}  # id tag/token -> the status its transactions get

    async def route_message(self, raw_msg: str) -> None:
        await asyncio.sleep(self.answer_delay_s)
        await super().route_message(raw_msg)

    async def _handle_call(self, msg: Any) -> None:
        await super()._handle_call(msg)
        self.actions.append(msg.action)


class CsmsStation16(CsmsStationMixin, Cp16):
    """The CSMS's side of one 1.6 charger."""

    transaction_ids = itertools.count(1000)

    @on("BootNotification")
    def on_boot(self, **_: Any) -> result16.BootNotification:
        return result16.BootNotification(
            current_time=now_iso(), interval=300, status=self.boot_status
        )

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **_: Any) -> result16.FirmwareStatusNotification:
        return result16.FirmwareStatusNotification()

    @on("DiagnosticsStatusNotification")
    def on_diagnostics_status(self, **_: Any) -> result16.DiagnosticsStatusNotification:
        return result16.DiagnosticsStatusNotification()

    @on("Heartbeat")
    def on_heartbeat(self) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=now_iso())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> result16.StatusNotification:
        return result16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str) -> result16.Authorize:
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def on_start(self, id_tag: str, **_: Any) -> result16.StartTransaction:
        status = self.refused_tags.get(id_tag, "Accepted")
        return result16.StartTransaction(
            transaction_id=next(self.transaction_ids), id_tag_info={"status": status}
        )

    @on("StopTransaction")
    def on_stop(self, **_: Any) -> result16.StopTransaction:
        return result16.StopTransaction()

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> result16.MeterValues:
        return result16.MeterValues()


class CsmsStation201(CsmsStationMixin, Cp201):
    """The CSMS's side of one 2.0.1 charging station."""

    def __init__(self, identity: str, connection: RecordingConnection) -> None:
        super().__init__(identity, connection)
        self.charging_priorities: dict[str, int] = {}  # id token -> its transactions' priority

    @on("BootNotification")
    def on_boot(self, **_: Any) -> result201.BootNotification:
        return result201.BootNotification(
            current_time=now_iso(), interval=300, status=self.boot_status
        )

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **_: Any) -> result201.FirmwareStatusNotification:
        return result201.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def on_log_status(self, **_: Any) -> result201.LogStatusNotification:
        return result201.LogStatusNotification()

    @on("Heartbeat")
    def on_heartbeat(self) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=now_iso())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> result201.StatusNotification:
        return result201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **_: Any) -> result201.Authorize:
        return result201.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def on_transaction_event(
        self, id_token: dict[str, Any] | None = None, **_: Any
    ) -> result201.TransactionEvent:
        token = (id_token or {}).get("id_token", "")
        status = self.refused_tags.get(token)
        if status is None:
            return result201.TransactionEvent(charging_priority=self.charging_priorities.get(token))
        return result201.TransactionEvent(id_token_info={"status": status})


@dataclass
class Handshake:
    path: str
    subprotocol: str | None
    authorization: str | None
    extensions: str | None


@dataclass
class Csms:
    """A CSMS on 127.0.0.1 that accepts paths under `/ocpp/` and, when `passwords` is set, only
    chargers whose Basic-auth user is their identity with the matching password."""

    passwords: dict[str, str] | None = None
    subprotocols: tuple[str, ...] = SUBPROTOCOLS
    stations: dict[str, CsmsStation16 | CsmsStation201] = field(default_factory=dict)
    connections: dict[str, RecordingConnection] = field(default_factory=dict)
    # every connection per identity, across reconnects and CSMS restarts
    history: dict[str, list[RecordingConnection]] = field(default_factory=dict)
    handshakes: list[Handshake] = field(default_factory=list)
    answer_delay_s: float = 0.0  # a slow CSMS: each answer waits this long
    boot_status: str = "Accepted"  # Pending / Rejected: how BootNotifications are answered
    # id tags/tokens whose transactions the CSMS refuses, with the status it answers
    refused_tags: dict[str, str] = field(default_factory=dict)
    # 2.0.1 id tokens whose transactions the CSMS gives a chargingPriority
    charging_priorities: dict[str, int] = field(default_factory=dict)
    ssl_context: ssl.SSLContext | None = None  # set: the CSMS listens on wss://
    server: Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        scheme = "ws" if self.ssl_context is None else "wss"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        identity = request.path.rsplit("/", 1)[-1]
        if not request.path.startswith("/ocpp/"):
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown path\n")
        if self.passwords is not None:
            expected = basic_auth(identity, self.passwords.get(identity, "\0"))
            if request.headers.get("Authorization") != expected:
                response = connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
                response.headers["WWW-Authenticate"] = 'Basic realm="csms"'
                return response
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        request, response = ws.request, ws.response
        assert request is not None and response is not None
        self.handshakes.append(
            Handshake(
                request.path,
                ws.subprotocol,
                request.headers.get("Authorization"),
                response.headers.get("Sec-WebSocket-Extensions"),
            )
        )
        identity = request.path.rsplit("/", 1)[-1]
        recorder = RecordingConnection(ws)
        station_class = CsmsStation16 if ws.subprotocol == "ocpp1.6" else CsmsStation201
        station = station_class(identity, recorder)
        station.answer_delay_s = self.answer_delay_s
        station.boot_status = self.boot_status
        station.refused_tags = self.refused_tags
        if isinstance(station, CsmsStation201):
            station.charging_priorities = self.charging_priorities
        self.stations[identity] = station
        self.connections[identity] = recorder
        self.history.setdefault(identity, []).append(recorder)
        with contextlib.suppress(websockets.ConnectionClosed):
            await station.start()

    async def start(self, port: int = 0) -> None:
        self.server = await websockets.serve(
            self._serve,
            "127.0.0.1",
            port or self.port,
            subprotocols=[Subprotocol(name) for name in self.subprotocols],
            process_request=self._check,
            ssl=self.ssl_context,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def update_firmware(self, identity: str, location: str, request_id: int = 1) -> None:
        """Tell a connected charger (either version) to update its firmware from `location`."""
        station = self.stations[identity]
        retrieve = "2026-12-06T00:00:00Z"
        if isinstance(station, CsmsStation16):
            await station.call(call16.UpdateFirmware(location=location, retrieve_date=retrieve))
        else:
            firmware = {"location": location, "retrieveDateTime": retrieve}
            await station.call(call201.UpdateFirmware(request_id=request_id, firmware=firmware))

    def received(self, identity: str) -> list[str]:
        """Every frame the CSMS got from `identity`, over all its connections, in order."""
        return [frame for recorder in self.history.get(identity, []) for frame in recorder.received]


class GatedCsms(Csms):
    """A CSMS that holds every handshake until `release` is set, counting arrivals."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals = 0
        self.release = asyncio.Event()

    async def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.arrivals += 1
        await self.release.wait()
        return await super()._check(connection, request)


# -- charge points -----------------------------------------------------------------------------

Notify = Callable[[str], Awaitable[None]]


class Transfers:
    """A charger's firmware downloads and log uploads, run after it answered the request."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, transfer: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.create_task(transfer))

    async def finished(self, timeout_s: float = 30.0) -> None:
        """Wait for every transfer started so far; bounded, and an exception in one raises."""
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*self.tasks)


async def install_firmware(location: str, downloaded: list[bytes], notify: Notify) -> None:
    """What a charger does after accepting UpdateFirmware: download the file from `location`
    (only from this machine), then report each step as the spec orders them."""
    assert urlsplit(location).hostname == "127.0.0.1", location
    await notify("Downloading")
    async with aiohttp.ClientSession() as http, http.get(location) as response:
        body = await response.read() if response.status == 200 else None
    if body is None:
        await notify("DownloadFailed")
        return
    downloaded.append(body)
    for status in ("Downloaded", "Installing", "Installed"):
        await notify(status)


async def upload_log(final_status: str, notify: Notify) -> None:
    """What a charger does after accepting GetDiagnostics / GetLog (the upload is not made)."""
    await notify("Uploading")
    await notify(final_status)


class ChargePoint16(Cp16):
    def __init__(
        self, identity: str, connection: RecordingConnection, answer_delay_s: float = 0.0
    ) -> None:
        super().__init__(identity, connection)
        self.answer_delay_s = answer_delay_s
        self.profiles: list[dict[str, Any]] = []
        self.handled: list[str] = []
        self.remote_stops: list[int] = []
        self.firmware: list[bytes] = []  # every firmware file downloaded, in order
        self.log_upload_status = "Uploaded"  # how every diagnostics upload ends
        self.transfers = Transfers()
        self.profile_status = "Accepted"  # the answer to every SetChargingProfile
        self.cleared: list[dict[str, Any]] = []  # every ClearChargingProfile's criteria
        # every key is reported, whatever was asked for; None: GetConfiguration is refused
        self.configuration: dict[str, str] | None = {"HeartbeatInterval": "300"}

    async def _delay(self, action: str) -> None:
        self.handled.append(action)
        await asyncio.sleep(self.answer_delay_s)

    @on("GetConfiguration")
    async def on_get_configuration(self, **_: Any) -> result16.GetConfiguration:
        await self._delay("GetConfiguration")
        if self.configuration is None:
            raise OcppNotSupportedError(details={"cause": "no configuration here"})
        keys = [
            {"key": key, "readonly": False, "value": value}
            for key, value in self.configuration.items()
        ]
        return result16.GetConfiguration(configuration_key=keys)

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **_: Any) -> result16.RemoteStartTransaction:
        await self._delay("RemoteStartTransaction")
        return result16.RemoteStartTransaction(status="Accepted")

    @on("SetChargingProfile")
    async def on_set_profile(self, **payload: Any) -> result16.SetChargingProfile:
        await self._delay("SetChargingProfile")
        self.profiles.append(payload)
        return result16.SetChargingProfile(status=self.profile_status)

    @on("ClearChargingProfile")
    async def on_clear_profile(self, **criteria: Any) -> result16.ClearChargingProfile:
        await self._delay("ClearChargingProfile")
        self.cleared.append(criteria)
        return result16.ClearChargingProfile(status="Accepted")

    @on("Reset")
    async def on_reset(self, **_: Any) -> result16.Reset:
        await self._delay("Reset")
        return result16.Reset(status="Accepted")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int) -> result16.RemoteStopTransaction:
        await self._delay("RemoteStopTransaction")
        self.remote_stops.append(transaction_id)
        return result16.RemoteStopTransaction(status="Accepted")

    @on("UpdateFirmware")
    async def on_update_firmware(self, location: str, **_: Any) -> result16.UpdateFirmware:
        await self._delay("UpdateFirmware")
        notify = self._notifier(call16.FirmwareStatusNotification)
        self.transfers.start(install_firmware(location, self.firmware, notify))
        return result16.UpdateFirmware()

    @on("GetDiagnostics")
    async def on_get_diagnostics(self, location: str, **_: Any) -> result16.GetDiagnostics:
        await self._delay("GetDiagnostics")
        notify = self._notifier(call16.DiagnosticsStatusNotification)
        self.transfers.start(upload_log(self.log_upload_status, notify))
        return result16.GetDiagnostics(file_name="diagnostics.txt")

    def _notifier(self, request: Callable[..., Any]) -> Notify:
        async def notify(status: str) -> None:
            await self.call(request(status=status))

        return notify

    async def boot(self) -> Any:
        return await self.call(
            call16.BootNotification(charge_point_model="Model16", charge_point_vendor="Vendor")
        )


class ChargePoint201(Cp201):
    def __init__(
        self, identity: str, connection: RecordingConnection, answer_delay_s: float = 0.0
    ) -> None:
        super().__init__(identity, connection)
        self.answer_delay_s = answer_delay_s
        self.profiles: list[dict[str, Any]] = []
        self.handled: list[str] = []
        self.remote_stops: list[str] = []
        self.firmware: list[bytes] = []  # every firmware file downloaded, in order
        self.log_upload_status = "Uploaded"  # how every log upload ends
        self.transfers = Transfers()
        # (component, variable) -> value; any other variable reads "300"
        self.variables: dict[tuple[str, str], str] = {}

    async def _delay(self, action: str) -> None:
        self.handled.append(action)
        await asyncio.sleep(self.answer_delay_s)

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[Any], **_: Any) -> Any:
        await self._delay("GetVariables")
        results = [
            {
                "attributeStatus": "Accepted",
                "attributeValue": self.variables.get(
                    (item["component"]["name"], item["variable"]["name"]), "300"
                ),
                "component": item["component"],
                "variable": item["variable"],
            }
            for item in get_variable_data
        ]
        return result201.GetVariables(get_variable_result=results)

    @on("RequestStopTransaction")
    async def on_request_stop(self, transaction_id: str) -> result201.RequestStopTransaction:
        await self._delay("RequestStopTransaction")
        self.remote_stops.append(transaction_id)
        return result201.RequestStopTransaction(status="Accepted")

    @on("RequestStartTransaction")
    async def on_request_start(self, **_: Any) -> result201.RequestStartTransaction:
        await self._delay("RequestStartTransaction")
        return result201.RequestStartTransaction(status="Accepted")

    @on("SetChargingProfile")
    async def on_set_profile(self, **payload: Any) -> result201.SetChargingProfile:
        await self._delay("SetChargingProfile")
        self.profiles.append(payload)
        return result201.SetChargingProfile(status="Accepted")

    @on("Reset")
    async def on_reset(self, **_: Any) -> result201.Reset:
        await self._delay("Reset")
        return result201.Reset(status="Accepted")

    @on("UpdateFirmware")
    async def on_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> result201.UpdateFirmware:
        await self._delay("UpdateFirmware")
        notify = self._notifier(call201.FirmwareStatusNotification, request_id)
        self.transfers.start(install_firmware(firmware["location"], self.firmware, notify))
        return result201.UpdateFirmware(status="Accepted")

    @on("GetLog")
    async def on_get_log(self, request_id: int, **_: Any) -> result201.GetLog:
        await self._delay("GetLog")
        notify = self._notifier(call201.LogStatusNotification, request_id)
        self.transfers.start(upload_log(self.log_upload_status, notify))
        return result201.GetLog(status="Accepted", filename="log.txt")

    def _notifier(self, request: Callable[..., Any], request_id: int) -> Notify:
        async def notify(status: str) -> None:
            await self.call(request(status=status, request_id=request_id))

        return notify

    async def boot(self) -> Any:
        return await self.call(
            call201.BootNotification(
                charging_station={"model": "Model201", "vendorName": "Vendor"}, reason="PowerUp"
            )
        )


@dataclass
class RunningChargePoint:
    cp: ChargePoint16 | ChargePoint201
    ws: ClientConnection
    recorder: RecordingConnection
    task: asyncio.Task[None]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await self.task
        await self.ws.close()


async def connect_charge_point(
    url: str,
    identity: str,
    version: str = "ocpp1.6",
    password: str | None = None,
    answer_delay_s: float = 0.0,
    ssl_context: ssl.SSLContext | None = None,
    cp_class: type[ChargePoint16 | ChargePoint201] | None = None,
) -> RunningChargePoint:
    headers = {"Authorization": basic_auth(identity, password)} if password else {}
    # websockets refuses ssl=None for a wss:// URL: its default context is used without one.
    tls: dict[str, Any] = {} if ssl_context is None else {"ssl": ssl_context}
    ws = await websockets.connect(
        f"{url}/ocpp/{identity}",
        subprotocols=[Subprotocol(version)],
        additional_headers=headers,
        open_timeout=5,
        **tls,
    )
    recorder = RecordingConnection(ws)
    if cp_class is None:
        cp_class = ChargePoint16 if version == "ocpp1.6" else ChargePoint201
    cp = cp_class(identity, recorder, answer_delay_s)
    task = asyncio.create_task(_run_quietly(cp))
    return RunningChargePoint(cp, ws, recorder, task)


async def _run_quietly(cp: ChargePoint16 | ChargePoint201) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        await cp.start()


async def wait_until(
    predicate: Callable[[], object], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Poll `predicate` until true; bounded, so a test never hangs."""

    async def check() -> object:
        return predicate()

    await wait_until_async(check, timeout_s, what)


async def wait_until_async(
    predicate: Callable[[], Awaitable[object]], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Poll the coroutine `predicate` (a journal query, say) until true; bounded too."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def upgrade_request(port: int, target: str, headers: dict[str, str] | None = None) -> bytes:
    """A raw HTTP/1.1 WebSocket upgrade for `target`, sent exactly as given (which no client
    library does), to 127.0.0.1:port, offering OCPP 1.6."""
    upgrade = {
        "Host": f"127.0.0.1:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": "ocpp1.6",
        **(headers or {}),
    }
    lines = [f"GET {target} HTTP/1.1", *(f"{k}: {v}" for k, v in upgrade.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def http_status(port: int, target: str, headers: dict[str, str] | None = None) -> int:
    """Send `upgrade_request` to 127.0.0.1:port; the status code of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(upgrade_request(port, target, headers))
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()
