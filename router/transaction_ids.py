"""The 1.6 transaction ids of one charger under `hold` (sans-I/O): the reserve of provisional
ids the LC hands out while the CSMS is gone, and the CSMS's id for each once its replayed
StartTransaction is answered.

The charger keeps using the provisional id, so it is rewritten to the CSMS's id in frames
going up and back in calls coming down. Those frames are re-serialised; every other frame is
relayed as its original text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from router.frames import Call, OcppVersion, call_text
from router.outputs import Direction, IdRemapped, OfflineOutput


class TransactionIds:
    def __init__(
        self,
        version: OcppVersion,
        transaction_map: Mapping[int, int],
        provisional_ids: Iterable[int],
    ) -> None:
        self._version = version
        self._transaction_map = dict(transaction_map)  # provisional -> CSMS id
        self._provisional_ids = list(provisional_ids)  # reserve, topped up from the journal

    @property
    def transaction_map(self) -> Mapping[int, int]:
        """Provisional transaction id -> the CSMS's."""
        return MappingProxyType(self._transaction_map)

    @property
    def provisional_ids(self) -> tuple[int, ...]:
        """The reserve of provisional ids still to hand out."""
        return tuple(self._provisional_ids)

    def take(self) -> int:
        """A provisional id; raises IndexError when the reserve is empty."""
        return self._provisional_ids.pop(0)

    def reserved(self, transaction_id: int) -> None:
        """A fresh provisional id for the reserve (journaled, so never handed out twice)."""
        self._provisional_ids.append(transaction_id)

    def mapped(self, provisional: int, csms_id: int) -> None:
        self._transaction_map[provisional] = csms_id

    def to_csms(self, call: Call, text: str) -> tuple[str, list[OfflineOutput]]:
        """The frame the CSMS must see: provisional ids replaced by the CSMS's."""
        provisional = call.payload.get("transactionId")
        if self._version is not OcppVersion.V16 or provisional not in self._transaction_map:
            return text, []
        # The mapping stays after a StopTransaction: the stop itself may have to be sent again.
        payload = {**call.payload, "transactionId": self._transaction_map[provisional]}
        rewritten = call_text(call.message_id, call.action, payload)
        return rewritten, [IdRemapped(Direction.TO_CSMS)]

    def to_charger(self, call: Call, text: str) -> tuple[str, list[OfflineOutput]]:
        """The frame the charger must see: the CSMS's ids replaced by provisional ones."""
        if self._version is not OcppVersion.V16 or not self._transaction_map:
            return text, []
        provisional_by_csms = {csms: prov for prov, csms in self._transaction_map.items()}
        payload = call.payload
        if call.action == "RemoteStopTransaction" and payload.get("transactionId") in (
            provisional_by_csms
        ):
            payload = {**payload, "transactionId": provisional_by_csms[payload["transactionId"]]}
        elif call.action == "SetChargingProfile":
            profile = payload.get("csChargingProfiles")
            if isinstance(profile, dict) and profile.get("transactionId") in provisional_by_csms:
                mapped = provisional_by_csms[profile["transactionId"]]
                payload = {**payload, "csChargingProfiles": {**profile, "transactionId": mapped}}
        if payload is call.payload:
            return text, []
        return call_text(call.message_id, call.action, payload), [IdRemapped(Direction.TO_CHARGER)]
