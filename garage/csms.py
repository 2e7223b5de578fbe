"""A simulated CSMS on 127.0.0.1: accepts OCPP 1.6 and 2.0.1 chargers at `/ocpp/<identity>`,
answers what they send, logs every CALL per charger, and lets a test or the demo send its own
calls (e.g. a SetChargingProfile as a CSMS limit) through `station(identity).call(...)`."""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections import defaultdict
from http import HTTPStatus
from types import TracebackType

import websockets
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import WebSocketException
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from garage.csms_stations import CsmsStation16, CsmsStation201
from garage.wire import CallLog, LoggedConnection

logger = logging.getLogger(__name__)

PATH_PREFIX = "/ocpp/"
SUBPROTOCOLS = [Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")]

CsmsStation = CsmsStation16 | CsmsStation201


class SimulatedCsms:
    def __init__(self, *, port: int = 0, heartbeat_interval_s: int = 300) -> None:
        """`port` 0 takes a free port (see `port` once started); `heartbeat_interval_s` is what
        BootNotification answers."""
        self.port = port
        self.heartbeat_interval_s = heartbeat_interval_s
        self._logs: defaultdict[str, CallLog] = defaultdict(CallLog)
        self._stations: dict[str, CsmsStation] = {}
        # 1.6 transaction ids are the CSMS's to give; one counter for all chargers, as in a
        # real CSMS where they are unique.
        self._transaction_ids = itertools.count(1)
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """Where chargers connect, without the `/ocpp/<identity>` part."""
        return f"ws://127.0.0.1:{self.port}"

    def station(self, identity: str) -> CsmsStation:
        """The CSMS's side of the connected charger `identity`, to `await ....call(payload)` on;
        KeyError when it is not connected."""
        return self._stations[identity]

    def connected(self, identity: str) -> bool:
        return identity in self._stations

    def log(self, identity: str) -> CallLog:
        """CALLs to and from `identity`, across its connections."""
        return self._logs[identity]

    def count(self, identity: str, action: str) -> int:
        """How many `action` CALLs `identity` sent."""
        return self._logs[identity].received[action]

    async def start(self) -> None:
        """Start listening (again on the same port after `stop`)."""
        self._server = await websockets.serve(
            self._serve,
            "127.0.0.1",
            self.port,
            subprotocols=SUBPROTOCOLS,
            process_request=self._check_path,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every charger."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SimulatedCsms:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        identity = request.path.removeprefix(PATH_PREFIX)
        if not request.path.startswith(PATH_PREFIX) or not identity or "/" in identity:
            return connection.respond(HTTPStatus.NOT_FOUND, "expected /ocpp/<identity>\n")
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        assert ws.request is not None  # set once the handshake is done
        identity = ws.request.path.removeprefix(PATH_PREFIX)
        if ws.subprotocol is None:
            await ws.close(CloseCode.PROTOCOL_ERROR, "no OCPP subprotocol agreed")
            return
        connection = LoggedConnection(ws, self._logs[identity])
        station: CsmsStation
        if ws.subprotocol == "ocpp1.6":
            station = CsmsStation16(
                identity,
                connection,
                heartbeat_interval_s=self.heartbeat_interval_s,
                transaction_ids=self._transaction_ids,
            )
        else:
            station = CsmsStation201(
                identity, connection, heartbeat_interval_s=self.heartbeat_interval_s
            )
        self._stations[identity] = station
        logger.info("CSMS: %s connected (%s)", identity, ws.subprotocol)
        try:
            with contextlib.suppress(WebSocketException):
                await station.start()
        finally:
            if self._stations.get(identity) is station:
                del self._stations[identity]
