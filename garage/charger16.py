# The ocpp package ships without type information; its classes and decorators are untyped.
# mypy: allow-subclassing-any, allow-untyped-decorators
"""The charger's side of an OCPP 1.6 connection: the messages a simulated charge point sends, and
its answers to the CSMS's smart-charging requests, on top of a `Station`."""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from garage.firmware_update import FirmwareUpdates
from garage.meter_values import sampled_values
from garage.station import Station
from garage.wire import LoggedConnection
from ocpp_knowledge.ocpp_time import to_ocpp_time
from ocpp_knowledge.profiles import RateUnit, Transaction, profile_from_v16, purpose_from_ocpp

CONNECTOR_ID = 1
RATE_UNIT_NAMES = {RateUnit.AMPERE: "Current", RateUnit.WATT: "Power"}
MEASURANDS = "Current.Import,Power.Active.Import,Energy.Active.Import.Register"


class Charger16(ChargePoint):
    def __init__(
        self, identity: str, connection: LoggedConnection, station: Station, *, model: str
    ) -> None:
        super().__init__(identity, connection)
        self.station = station
        self.model = model
        self.firmware_updates = FirmwareUpdates()

    # -- messages the charger sends -------------------------------------------------------------

    async def boot(self) -> tuple[bool, int]:
        """BootNotification: (accepted, heartbeat or retry interval in s)."""
        result = await self.call(
            call.BootNotification(charge_point_model=self.model, charge_point_vendor="Garage"),
            suppress=False,
        )
        return result.status == "Accepted", int(result.interval)

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat(), suppress=False)

    async def announce(self) -> None:
        """Status of the charger and its connector, as after a (re)boot."""
        if self.station.transaction is not None:
            connector_status = "Charging"
        elif self.station.car is not None:
            connector_status = "Preparing"
        else:
            connector_status = "Available"
        await self._status("Available", connector_id=0)
        await self._status(connector_status)

    async def start_transaction(self, id_tag: str) -> None:
        await self._status("Preparing")
        sample = self.station.meter_sample()
        result = await self.call(
            call.StartTransaction(
                connector_id=CONNECTOR_ID,
                id_tag=id_tag,
                meter_start=int(sample.energy_wh),
                timestamp=to_ocpp_time(sample.taken_at),
            ),
            suppress=False,
        )
        self.station.begin(Transaction(int(result.transaction_id), sample.taken_at))
        await self._status("Charging")

    async def stop_transaction(self) -> None:
        transaction = self.station.transaction
        if transaction is None:
            return
        sample = self.station.meter_sample()
        self.station.end()
        await self.call(
            call.StopTransaction(
                meter_stop=int(sample.energy_wh),
                timestamp=to_ocpp_time(sample.taken_at),
                transaction_id=transaction.transaction_id,
                reason="EVDisconnected",
            ),
            suppress=False,
        )
        await self._status("Available")

    async def send_meter_values(self) -> None:
        transaction = self.station.transaction
        if transaction is None:
            return
        sample = self.station.meter_sample()
        await self.call(
            call.MeterValues(
                connector_id=CONNECTOR_ID,
                transaction_id=transaction.transaction_id,
                meter_value=[
                    {
                        "timestamp": to_ocpp_time(sample.taken_at),
                        "sampled_value": sampled_values(
                            sample, context="Sample.Periodic", version="1.6"
                        ),
                    }
                ],
            ),
            suppress=False,
        )

    async def _status(self, status: str, connector_id: int = CONNECTOR_ID) -> None:
        await self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code="NoError",
                status=status,
                timestamp=to_ocpp_time(self.station.clock()),
            ),
            suppress=False,
        )

    # -- requests the charger answers -----------------------------------------------------------

    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, **_: Any) -> call_result.UpdateFirmware:
        self.firmware_updates.start(location, self._firmware_status)
        return call_result.UpdateFirmware()

    async def _firmware_status(self, status: str) -> None:
        await self.call(call.FirmwareStatusNotification(status=status), suppress=False)

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        self._require_smart_charging()
        accepted = self.station.install(profile_from_v16(connector_id, cs_charging_profiles))
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        self._require_smart_charging()
        removed = self.station.clear(
            profile_id=id,
            connector_id=connector_id,
            purpose=None
            if charging_profile_purpose is None
            else purpose_from_ocpp(charging_profile_purpose),
            stack_level=stack_level,
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str = "A", **_: Any
    ) -> call_result.GetCompositeSchedule:
        self._require_smart_charging()
        if connector_id not in (0, CONNECTOR_ID):
            return call_result.GetCompositeSchedule(status="Rejected")
        report = self.station.composite_schedule(duration, RateUnit(charging_rate_unit))
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=to_ocpp_time(report.start),
            charging_schedule={
                "duration": report.duration_s,
                "start_schedule": to_ocpp_time(report.start),
                "charging_rate_unit": report.rate_unit.value,
                "charging_schedule_period": report.schedule_periods(),
            },
        )

    @on("GetConfiguration")
    def on_get_configuration(
        self, key: list[str] | None = None, **_: Any
    ) -> call_result.GetConfiguration:
        configuration = self._configuration()
        requested = list(configuration) if key is None else key
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": name, "readonly": True, "value": configuration[name]}
                for name in requested
                if name in configuration
            ],
            unknown_key=[name for name in requested if name not in configuration] or None,
        )

    def _configuration(self) -> dict[str, str]:
        configuration = {
            "NumberOfConnectors": "1",
            "MeterValuesSampledData": MEASURANDS,
            "SupportedFeatureProfiles": "Core,SmartCharging"
            if self.station.smart_charging
            else "Core",
        }
        if self.station.smart_charging:
            capabilities = self.station.capabilities
            configuration |= {
                "ChargeProfileMaxStackLevel": str(capabilities.max_stack_level),
                "ChargingScheduleAllowedChargingRateUnit": ",".join(
                    RATE_UNIT_NAMES[unit] for unit in capabilities.rate_units
                ),
                "ChargingScheduleMaxPeriods": str(capabilities.max_periods),
                "MaxChargingProfilesInstalled": str(capabilities.max_profiles),
            }
        return configuration

    def _require_smart_charging(self) -> None:
        if not self.station.smart_charging:
            raise OcppNotImplementedError(details={"cause": "no Smart Charging feature profile"})
