# The ocpp package ships without type information; its classes and decorators are untyped.
# mypy: allow-subclassing-any, allow-untyped-decorators
"""The CSMS's side of one charger connection, per OCPP version: accepts every charger, tag and
transaction. The simulated CSMS stands in for a real one, so it judges nothing."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from garage.wire import LoggedConnection
from ocpp_knowledge.ocpp_time import to_ocpp_time, utc_now

ACCEPTED = {"status": "Accepted"}
_firmware_requests = itertools.count(1)


def _now() -> str:
    return to_ocpp_time(utc_now())


class CsmsStation16(ChargePoint16):
    def __init__(
        self,
        identity: str,
        connection: LoggedConnection,
        *,
        heartbeat_interval_s: int,
        transaction_ids: Iterator[int],
    ) -> None:
        super().__init__(identity, connection)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.transaction_ids = transaction_ids

    @on("BootNotification")
    def on_boot_notification(self, **_: Any) -> result16.BootNotification:
        return result16.BootNotification(
            current_time=to_ocpp_time(utc_now()),
            interval=self.heartbeat_interval_s,
            status="Accepted",
        )

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=to_ocpp_time(utc_now()))

    @on("StatusNotification")
    def on_status_notification(self, **_: Any) -> result16.StatusNotification:
        return result16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **_: Any) -> result16.Authorize:
        return result16.Authorize(id_tag_info=ACCEPTED)

    @on("StartTransaction")
    def on_start_transaction(self, **_: Any) -> result16.StartTransaction:
        return result16.StartTransaction(
            transaction_id=next(self.transaction_ids), id_tag_info=ACCEPTED
        )

    @on("StopTransaction")
    def on_stop_transaction(self, **_: Any) -> result16.StopTransaction:
        return result16.StopTransaction()

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> result16.MeterValues:
        return result16.MeterValues()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **_: Any) -> result16.FirmwareStatusNotification:
        return result16.FirmwareStatusNotification()

    async def update_firmware(self, location: str) -> None:
        await self.call(call16.UpdateFirmware(location=location, retrieve_date=_now()))


class CsmsStation201(ChargePoint201):
    def __init__(
        self, identity: str, connection: LoggedConnection, *, heartbeat_interval_s: int
    ) -> None:
        super().__init__(identity, connection)
        self.heartbeat_interval_s = heartbeat_interval_s

    @on("BootNotification")
    def on_boot_notification(self, **_: Any) -> result201.BootNotification:
        return result201.BootNotification(
            current_time=to_ocpp_time(utc_now()),
            interval=self.heartbeat_interval_s,
            status="Accepted",
        )

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=to_ocpp_time(utc_now()))

    @on("StatusNotification")
    def on_status_notification(self, **_: Any) -> result201.StatusNotification:
        return result201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **_: Any) -> result201.Authorize:
        return result201.Authorize(id_token_info=ACCEPTED)

    @on("TransactionEvent")
    def on_transaction_event(
        self, id_token: dict[str, Any] | None = None, **_: Any
    ) -> result201.TransactionEvent:
        # A token in the event asks for its authorization (2.0.1 E01/E02): accept it.
        return result201.TransactionEvent(id_token_info=None if id_token is None else ACCEPTED)

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> result201.MeterValues:
        return result201.MeterValues()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **_: Any) -> result201.FirmwareStatusNotification:
        return result201.FirmwareStatusNotification()

    async def update_firmware(self, location: str) -> None:
        firmware = {"location": location, "retrieveDateTime": _now()}
        request_id = next(_firmware_requests)
        await self.call(call201.UpdateFirmware(request_id=request_id, firmware=firmware))
