"""A simulated charge point: one EVSE (connector 1) with a car, speaking OCPP 1.6 or 2.0.1 to
`<csms_url>/ocpp/<identity>` as a real charger does: boots, reports status, runs transactions,
sends meter values, keeps the charging profiles it is given, and reconnects after a drop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import websockets
from ocpp.exceptions import OCPPError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

from garage.charger16 import Charger16
from garage.charger201 import Charger201
from garage.evse import Car, Evse, ThreePhases
from garage.profile_store import ChargePointVersion, SmartChargingCapabilities
from garage.station import Station
from garage.wire import CallLog, LoggedConnection
from ocpp_knowledge.ocpp_time import Clock, utc_now
from ocpp_knowledge.profiles import ChargingProfile, Purpose, Transaction

logger = logging.getLogger(__name__)

SUBPROTOCOLS: dict[ChargePointVersion, Subprotocol] = {
    "1.6": Subprotocol("ocpp1.6"),
    "2.0.1": Subprotocol("ocpp2.0.1"),
}
OPEN_TIMEOUT_S = 5.0
ATTEMPT_WINDOW_S = 60.0
# What can go wrong with one connection: refused, handshake, dropped, no answer, CALLERROR.
CONNECTION_ERRORS = (OSError, TimeoutError, WebSocketException, OCPPError)


class OcppCharger(Protocol):
    """What the charge point needs from a version's OCPP handler class."""

    async def start(self) -> None: ...
    async def boot(self) -> tuple[bool, int]: ...
    async def heartbeat(self) -> None: ...
    async def announce(self) -> None: ...
    async def start_transaction(self, id_tag: str) -> None: ...
    async def stop_transaction(self) -> None: ...
    async def send_meter_values(self) -> None: ...


@dataclass
class _Session:
    """One websocket connection and the tasks that live as long as it does."""

    ws: ClientConnection
    charger: OcppCharger
    reader: asyncio.Task[None]
    loops: list[asyncio.Task[None]]


class SimulatedChargePoint:
    def __init__(
        self,
        csms_url: str,
        identity: str,
        *,
        version: ChargePointVersion = "1.6",
        hardware_max_current_a: float = 32.0,
        reaction_delay_s: float = 2.0,
        draw_fraction: float = 1.0,
        obeys_profiles: bool = True,
        smart_charging: Literal["supported", "notimplemented", "station_max_only"] = "supported",
        capabilities: SmartChargingCapabilities | None = None,
        meter_interval_s: float = 10.0,
        reconnect_delay_s: float = 1.0,
        max_connects_per_minute: int = 10,
        clock: Clock = utc_now,
    ) -> None:
        """A charger that connects to `<csms_url>/ocpp/<identity>` on `connect()` or `run()`.

        `reaction_delay_s`: how long after a limit change the car's draw follows it.
        `draw_fraction`: share of the offered current the car takes (many take ~95 %).
        `obeys_profiles=False`: a charger that accepts profiles and keeps drawing its maximum.
        `smart_charging="notimplemented"`: smart-charging requests get CALLERROR NotImplemented.
        `smart_charging="station_max_only"`: TxProfile and TxDefaultProfile are Rejected; only the
        charger maximum (ChargePointMaxProfile / ChargingStationMaxProfile) is accepted.
        """
        self.url = f"{csms_url.rstrip('/')}/ocpp/{identity}"
        self.identity = identity
        self.version = version
        self.meter_interval_s = meter_interval_s
        self.reconnect_delay_s = reconnect_delay_s
        self.max_connects_per_minute = max_connects_per_minute
        capabilities = capabilities or SmartChargingCapabilities()
        if smart_charging == "station_max_only":
            capabilities = replace(capabilities, purposes=(Purpose.STATION_MAX,))
        self.station = Station(
            version=version,
            evse=Evse(
                hardware_max_current_a=hardware_max_current_a,
                reaction_delay_s=reaction_delay_s,
                draw_fraction=draw_fraction,
                obeys_profiles=obeys_profiles,
            ),
            capabilities=capabilities,
            smart_charging=smart_charging != "notimplemented",
            clock=clock,
        )
        self.log = CallLog()
        """OCPP CALLs sent and received, across reconnects."""
        self.connects = 0
        """Successful connections (booted), the first one included."""
        self._session: _Session | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._attempts: deque[float] = deque()

    # -- what the charger does ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def limit(self) -> float | None:
        """The composite limit in force now, A per phase; None when no profile limits."""
        return self.station.limit_a()

    @property
    def profiles(self) -> tuple[ChargingProfile, ...]:
        return self.station.profiles

    @property
    def transaction(self) -> Transaction | None:
        return self.station.transaction

    @property
    def rejections(self) -> list[str]:
        """Why each rejected SetChargingProfile was rejected."""
        return self.station.rejections

    def phase_currents(self) -> ThreePhases:
        """Current drawn now per charger phase (L1, L2, L3 at the charger's terminals)."""
        return self.station.phase_currents()

    async def plug_in(
        self, car_max_current_a: float, phases: Literal[1, 3] = 3, id_tag: str | None = None
    ) -> None:
        """A car arrives and a transaction starts (1.6: Preparing, StartTransaction, Charging;
        2.0.1: Occupied, TransactionEvent Started, then Updated with chargingState Charging)."""
        charger = self._charger()
        self.station.plug(Car(car_max_current_a, phases))
        await charger.start_transaction(id_tag or f"TAG-{self.identity}")

    async def unplug(self) -> None:
        """The car leaves: current stops at once, the transaction ends (1.6 StopTransaction,
        2.0.1 TransactionEvent Ended) and the connector is Available again. While disconnected
        the transaction ends locally only."""
        self.station.unplug()
        if self._session is None:
            self.station.end()
        else:
            await self._session.charger.stop_transaction()

    async def send_meter_values(self) -> None:
        """Report what the EVSE draws now (MeterValues), besides every `meter_interval_s`."""
        await self._charger().send_meter_values()

    # -- connection -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and boot (raising if that fails), then stay connected in the background,
        reconnecting after drops, until `close()`."""
        if self._keeper is not None:
            raise RuntimeError(f"{self.identity} is already running")
        self._closing.clear()
        await self._open()
        self._keeper = asyncio.create_task(self._stay_connected())

    async def run(self) -> None:
        """Connect and stay connected, retrying with back-off, until `close()`."""
        self._closing.clear()
        await self._stay_connected()

    async def close(self) -> None:
        self._closing.set()
        await self._end_session()
        if self._keeper is not None:
            await self._keeper
            self._keeper = None

    async def _stay_connected(self) -> None:
        while not self._closing.is_set():
            session = self._session
            if session is None:
                if not await self._pause_before_attempt():
                    return
                with contextlib.suppress(*CONNECTION_ERRORS):
                    await self._open()
                continue
            await asyncio.wait([session.reader])  # not `await reader`: close() may cancel it
            if self._session is session:
                logger.info("%s: connection lost", self.identity)
                await self._end_session()

    async def _pause_before_attempt(self) -> bool:
        """Wait the back-off, and longer once `max_connects_per_minute` were tried within a
        minute (a charger must not hammer its CSMS). False when closing meanwhile."""
        now = time.monotonic()
        while self._attempts and now - self._attempts[0] >= ATTEMPT_WINDOW_S:
            self._attempts.popleft()
        delay = self.reconnect_delay_s if self._attempts else 0.0
        if len(self._attempts) >= self.max_connects_per_minute:
            delay = max(delay, self._attempts[0] + ATTEMPT_WINDOW_S - now)
        try:
            await asyncio.wait_for(self._closing.wait(), delay)
        except TimeoutError:
            return True
        return False

    async def _open(self) -> None:
        self._attempts.append(time.monotonic())
        subprotocol = SUBPROTOCOLS[self.version]
        ws = await websockets.connect(
            self.url, subprotocols=[subprotocol], open_timeout=OPEN_TIMEOUT_S
        )
        if ws.subprotocol != subprotocol:
            await ws.close()
            raise ConnectionRefusedError(f"the CSMS did not accept {subprotocol}")
        charger_class = Charger16 if self.version == "1.6" else Charger201
        charger: OcppCharger = charger_class(
            self.identity, LoggedConnection(ws, self.log), self.station, model=f"Sim{self.version}"
        )
        reader = asyncio.create_task(_read(charger))
        try:
            heartbeat_s = await self._boot(charger)
            await charger.announce()
        except BaseException:
            reader.cancel()
            await ws.close()
            await asyncio.wait([reader])
            raise
        loops = [
            asyncio.create_task(
                self._every(self.meter_interval_s, charger.send_meter_values, "MeterValues")
            )
        ]
        if heartbeat_s > 0:
            loops.append(
                asyncio.create_task(self._every(heartbeat_s, charger.heartbeat, "Heartbeat"))
            )
        self._session = _Session(ws, charger, reader, loops)
        self.connects += 1
        logger.info("%s: connected to %s", self.identity, self.url)

    async def _boot(self, charger: OcppCharger) -> int:
        """BootNotification until accepted; returns the heartbeat interval."""
        accepted, interval_s = await charger.boot()
        while not accepted:
            await asyncio.sleep(interval_s or self.reconnect_delay_s)
            accepted, interval_s = await charger.boot()
        return interval_s

    async def _every(
        self, interval_s: float, send: Callable[[], Awaitable[None]], what: str
    ) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await send()
            except WebSocketException:
                return  # the connection is gone; the keeper reconnects
            except (TimeoutError, OCPPError) as exc:
                logger.warning("%s: %s failed: %r", self.identity, what, exc)

    async def _end_session(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        for task in [session.reader, *session.loops]:
            task.cancel()
        await session.ws.close()
        await asyncio.gather(session.reader, *session.loops, return_exceptions=True)

    def _charger(self) -> OcppCharger:
        if self._session is None:
            raise ConnectionError(f"{self.identity} is not connected")
        return self._session.charger


async def _read(charger: OcppCharger) -> None:
    """Serve the connection (answer the CSMS, route answers to our calls) until it drops."""
    with contextlib.suppress(WebSocketException):
        await charger.start()
