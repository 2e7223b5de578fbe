"""The CSMS's device-model calls (B05–B08) as station handlers: GetVariables, SetVariables,
GetBaseReport and GetReport, the reports sent as NotifyReports in parts of ItemsPerMessage."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ocpp_knowledge.ocpp_time import to_ocpp_time
from station.device_model import DeviceModel, Variable
from station.link import StationCallFailed, StationLink

log = logging.getLogger(__name__)

# DeviceDataCtrlr.ItemsPerMessage[GetReport]: report data per NotifyReport.
ITEMS_PER_REPORT = 20
BASE_REPORTS = ("ConfigurationInventory", "FullInventory", "SummaryInventory")


class DeviceModelCalls:
    def __init__(self, model: DeviceModel, station: StationLink) -> None:
        self._model = model
        self._station = station

    def register(self) -> None:
        self._station.register("GetVariables", self.get_variables)
        self._station.register("SetVariables", self.set_variables)
        self._station.register("GetBaseReport", self.get_base_report)
        self._station.register("GetReport", self.get_report)

    def get_variables(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"getVariableResult": [self._model.get(i) for i in payload["getVariableData"]]}

    def set_variables(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"setVariableResult": [self._model.set(i) for i in payload["setVariableData"]]}

    def get_base_report(self, payload: dict[str, Any]) -> dict[str, Any]:
        variables = self._model.base_report(payload["reportBase"])
        self._promise_report(payload["requestId"], variables)
        return {"status": "Accepted"}

    def get_report(self, payload: dict[str, Any]) -> dict[str, Any]:
        variables = self._model.report(
            payload.get("componentCriteria", []), payload.get("componentVariable", [])
        )
        if not variables:
            return {"status": "EmptyResultSet"}
        self._promise_report(payload["requestId"], variables)
        return {"status": "Accepted"}

    def _promise_report(self, request_id: int, variables: list[Variable]) -> None:
        # The values are read now, when the CSMS asked; sent after the answer (B07.FR.02).
        data = [self._model.report_data(variable) for variable in variables]
        generated_at = to_ocpp_time(datetime.now(UTC))

        async def send() -> None:
            parts = [data[i : i + ITEMS_PER_REPORT] for i in range(0, len(data), ITEMS_PER_REPORT)]
            for seq_no, part in enumerate(parts):
                report = {
                    "requestId": request_id,
                    "generatedAt": generated_at,
                    "seqNo": seq_no,
                    "tbc": seq_no < len(parts) - 1,
                    "reportData": part,
                }
                try:
                    await self._station.call("NotifyReport", report)
                except StationCallFailed as failed:
                    log.warning("report %d stopped at part %d: %s", request_id, seq_no, failed)
                    return

        self._station.after_answer(send)
