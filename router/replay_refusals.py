"""Which replayed answers refuse a transaction the charger still runs (sans-I/O, `hold`).

The charger accepted the session on the LC's word while the CSMS was gone; the CSMS's answer
to its replayed start says no. Such a refusal is acted on once (router/refusals.py), and only
while the transaction is still ongoing (1.6 §3.5.4, 2.0.1 C15.FR.03): one that ends later in
the backlog, or in a live call waiting behind it, is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from router.outputs import OfflineOutput, TransactionRefused


class ReplayRefusals:
    def __init__(self) -> None:
        self._refused: set[int | str] = set()  # acted on once each

    def refused_before(self, transaction_id: int | str) -> None:
        """A refusal from before this link (journaled) is being acted on already."""
        self._refused.add(transaction_id)

    def start_refused(
        self,
        provisional: int,
        request: dict[str, Any],
        response: dict[str, Any],
        waiting: Iterable[str],
    ) -> list[OfflineOutput]:
        """The refusal in the answer to a 1.6 StartTransaction, if it is one to act on; the
        charger knows the session by its provisional id. `waiting`: the texts still to go to
        the CSMS after it."""
        info = response.get("idTagInfo")
        if not isinstance(info, dict) or info.get("status", "Accepted") == "Accepted":
            return []
        connector = request.get("connectorId")
        evse_id = connector if isinstance(connector, int) else None
        return self._refused_once(provisional, evse_id, waiting)

    def event_refused(
        self, request: dict[str, Any], response: dict[str, Any], waiting: Iterable[str]
    ) -> list[OfflineOutput]:
        """The refusal in the answer to a 2.0.1 TransactionEvent, if it is one to act on."""
        info = response.get("idTokenInfo")
        if not isinstance(info, dict):
            return []
        if info.get("status", "Accepted") == "Accepted" or request.get("eventType") == "Ended":
            return []
        transaction_id = request.get("transactionInfo", {}).get("transactionId")
        evse = request.get("evse")
        evse_id = evse.get("id") if isinstance(evse, dict) else None
        evse_id = evse_id if isinstance(evse_id, int) else None
        return self._refused_once(transaction_id, evse_id, waiting)

    def _refused_once(
        self, transaction_id: int | str, evse_id: int | None, waiting: Iterable[str]
    ) -> list[OfflineOutput]:
        if transaction_id in self._refused or _ends_in(waiting, transaction_id):
            return []
        self._refused.add(transaction_id)
        return [TransactionRefused(transaction_id, evse_id)]


def _ends_in(texts: Iterable[str], transaction_id: int | str) -> bool:
    for text in texts:
        _type, _id, action, payload = json.loads(text)
        if action == "StopTransaction":
            ended = payload.get("transactionId")
        elif action == "TransactionEvent" and payload.get("eventType") == "Ended":
            ended = payload.get("transactionInfo", {}).get("transactionId")
        else:
            continue
        if ended == transaction_id:
            return True
    return False
