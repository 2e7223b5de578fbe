# The ocpp package ships without type information; its classes and decorators are untyped.
# mypy: allow-subclassing-any, allow-untyped-decorators
"""The charging station's side of an OCPP 2.0.1 connection: the messages a simulated charge point
sends, and its answers to the CSMS's smart-charging requests, on top of a `Station`."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from typing import Any

from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result

from garage.firmware_update import FirmwareUpdates
from garage.meter_values import sampled_values
from garage.station import Station
from garage.wire import LoggedConnection
from ocpp_knowledge.configuration import (
    MAX_STACK_LEVEL,
    RATE_UNITS,
    SMART_CHARGING_CTRLR,
    SMART_CHARGING_ENABLED,
)
from ocpp_knowledge.ocpp_time import to_ocpp_time
from ocpp_knowledge.profiles import RateUnit, Transaction, profile_from_v201, purpose_from_ocpp

EVSE_ID = 1
EVSE = {"id": EVSE_ID, "connector_id": 1}
ADDITIONAL_INFO_MAX = 512  # StatusInfoType.additionalInfo


class Charger201(ChargePoint):
    def __init__(
        self, identity: str, connection: LoggedConnection, station: Station, *, model: str
    ) -> None:
        super().__init__(identity, connection)
        self.station = station
        self.model = model
        self._seq_no = itertools.count()
        self.firmware_updates = FirmwareUpdates()

    # -- messages the station sends -------------------------------------------------------------

    async def boot(self) -> tuple[bool, int]:
        """BootNotification: (accepted, heartbeat or retry interval in s)."""
        result = await self.call(
            call.BootNotification(
                charging_station={"model": self.model, "vendor_name": "Garage"}, reason="PowerUp"
            ),
            suppress=False,
        )
        return result.status == "Accepted", int(result.interval)

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat(), suppress=False)

    async def announce(self) -> None:
        """Status of the connector, as after a (re)boot."""
        await self._status("Available" if self.station.car is None else "Occupied")

    async def start_transaction(self, id_tag: str) -> None:
        # 2.0.1 transaction ids come from the station, so the transaction exists (and a TxProfile
        # for it is accepted) from the moment the CSMS hears of it.
        await self._status("Occupied")
        sample = self.station.meter_sample()
        transaction = Transaction(str(uuid.uuid4()), sample.taken_at)
        self.station.begin(transaction)
        self._seq_no = itertools.count()
        await self._transaction_event(
            transaction,
            "Started",
            "CablePluggedIn",
            "EVConnected",
            id_token={"id_token": id_tag, "type": "ISO14443"},
            evse=EVSE,
            meter_value=[
                self._energy_reading(sample.taken_at, sample.energy_wh, "Transaction.Begin")
            ],
        )
        await self._transaction_event(transaction, "Updated", "ChargingStateChanged", "Charging")

    async def stop_transaction(self) -> None:
        transaction = self.station.transaction
        if transaction is None:
            return
        sample = self.station.meter_sample()
        self.station.end()
        await self._transaction_event(
            transaction,
            "Ended",
            "EVDeparted",
            "Idle",
            stopped_reason="EVDisconnected",
            meter_value=[
                self._energy_reading(sample.taken_at, sample.energy_wh, "Transaction.End")
            ],
        )
        await self._status("Available")

    async def send_meter_values(self) -> None:
        transaction = self.station.transaction
        if transaction is None:
            return
        sample = self.station.meter_sample()
        await self._transaction_event(
            transaction,
            "Updated",
            "MeterValuePeriodic",
            "Charging",
            meter_value=[
                {
                    "timestamp": to_ocpp_time(sample.taken_at),
                    "sampled_value": sampled_values(
                        sample, context="Sample.Periodic", version="2.0.1"
                    ),
                }
            ],
        )

    async def _transaction_event(
        self,
        transaction: Transaction,
        event_type: str,
        trigger_reason: str,
        charging_state: str,
        *,
        stopped_reason: str | None = None,
        **optional: Any,
    ) -> None:
        info: dict[str, Any] = {
            "transaction_id": transaction.transaction_id,
            "charging_state": charging_state,
        }
        if stopped_reason is not None:
            info["stopped_reason"] = stopped_reason
        await self.call(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=to_ocpp_time(self.station.clock()),
                trigger_reason=trigger_reason,
                seq_no=next(self._seq_no),
                transaction_info=info,
                **optional,
            ),
            suppress=False,
        )

    def _energy_reading(self, taken_at: datetime, energy_wh: float, context: str) -> dict[str, Any]:
        return {
            "timestamp": to_ocpp_time(taken_at),
            "sampled_value": [
                {
                    "value": round(energy_wh, 1),
                    "measurand": "Energy.Active.Import.Register",
                    "context": context,
                    "unit_of_measure": {"unit": "Wh"},
                }
            ],
        }

    async def _status(self, connector_status: str) -> None:
        await self.call(
            call.StatusNotification(
                timestamp=to_ocpp_time(self.station.clock()),
                connector_status=connector_status,
                evse_id=EVSE_ID,
                connector_id=1,
            ),
            suppress=False,
        )

    # -- requests the station answers -----------------------------------------------------------

    @on("UpdateFirmware")
    def on_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> call_result.UpdateFirmware:
        async def notify(status: str) -> None:
            notice = call.FirmwareStatusNotification(status=status, request_id=request_id)
            await self.call(notice, suppress=False)

        self.firmware_updates.start(firmware["location"], notify)
        return call_result.UpdateFirmware(status="Accepted")

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        self._require_smart_charging()
        if self.station.install(profile_from_v201(evse_id, charging_profile)):
            return call_result.SetChargingProfile(status="Accepted")
        return call_result.SetChargingProfile(
            status="Rejected",
            status_info={
                "reason_code": "InvalidProfile",
                "additional_info": self.station.rejections[-1][:ADDITIONAL_INFO_MAX],
            },
        )

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        self._require_smart_charging()
        criteria = charging_profile_criteria or {}
        purpose = criteria.get("charging_profile_purpose")
        removed = self.station.clear(
            profile_id=charging_profile_id,
            connector_id=criteria.get("evse_id"),
            purpose=None if purpose is None else purpose_from_ocpp(purpose),
            stack_level=criteria.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str = "A", **_: Any
    ) -> call_result.GetCompositeSchedule:
        self._require_smart_charging()
        if evse_id not in (0, EVSE_ID):
            return call_result.GetCompositeSchedule(status="Rejected")
        report = self.station.composite_schedule(duration, RateUnit(charging_rate_unit))
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": report.duration_s,
                "schedule_start": to_ocpp_time(report.start),
                "charging_rate_unit": report.rate_unit.value,
                "charging_schedule_period": report.schedule_periods(),
            },
        )

    @on("GetVariables")
    def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.GetVariables:
        return call_result.GetVariables(
            get_variable_result=[self._variable(item) for item in get_variable_data]
        )

    def _variable(self, item: dict[str, Any]) -> dict[str, Any]:
        result = {"component": item["component"], "variable": item["variable"]}
        attribute_type = item.get("attribute_type", "Actual")
        variables = self._smart_charging_variables()
        if item["component"]["name"] != SMART_CHARGING_CTRLR or not variables:
            return result | {"attribute_status": "UnknownComponent"}
        if item["variable"]["name"] not in variables:
            return result | {"attribute_status": "UnknownVariable"}
        if attribute_type != "Actual":
            return result | {"attribute_status": "NotSupportedAttributeType"}
        return result | {
            "attribute_status": "Accepted",
            "attribute_value": variables[item["variable"]["name"]],
        }

    def _smart_charging_variables(self) -> dict[str, str]:
        """SmartChargingCtrlr as the station reports it; a station without smart charging has
        no such component."""
        if not self.station.smart_charging:
            return {}
        capabilities = self.station.capabilities
        return {
            "Available": "true",
            SMART_CHARGING_ENABLED.variable: "true",
            MAX_STACK_LEVEL.variable: str(capabilities.max_stack_level),
            RATE_UNITS.variable: ",".join(unit.value for unit in capabilities.rate_units),
            "PeriodsPerSchedule": str(capabilities.max_periods),
        }

    def _require_smart_charging(self) -> None:
        if not self.station.smart_charging:
            raise OcppNotImplementedError(details={"cause": "no smart charging"})
