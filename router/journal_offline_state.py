"""What the LC keeps besides the backlog to act as the CSMS while it is down.

The provisional 1.6 transaction ids it handed out and the CSMS's ids they map to, the CSMS
answers it reuses (authorizations, boot answers), the transactions the CSMS refused on replay
that the LC has yet to act on, and the latest StatusNotification per connector.
"""

from __future__ import annotations

import json
import re
from typing import Any

from router.journal_connection import JournalConnection
from router.journal_outbox import next_counter
from router.local_answers import BootAnswer

_PROVISIONAL_TRANSACTION = "provisional_transaction"


class OfflineStateStore(JournalConnection):
    # Per table, the chargers that may have rows there (see Journal).
    _may_have: dict[str, set[str]]
    # The boot answers as stored: an unchanged answer (every reconnect) is not written again.
    _stored_boots: dict[str, BootAnswer]

    # --- 1.6 transaction ids ------------------------------------------------------------------

    async def next_provisional_transaction_id(self, identity: str) -> int:
        """-1, -2, ... per charger: negative, so never equal to a CSMS's (positive) id."""
        (provisional,) = await self.next_provisional_transaction_ids(identity, 1)
        return provisional

    async def next_provisional_transaction_ids(self, identity: str, count: int) -> list[int]:
        """The next `count` provisional ids of a charger, in order, in one write."""
        rows = await self._write(
            next_counter(identity, _PROVISIONAL_TRANSACTION, step=count, returning=True)
        )
        last = int(rows[0][0])
        return [-value for value in range(last - count + 1, last + 1)]

    async def map_transaction(self, identity: str, provisional: int, csms_id: int) -> None:
        self._may_have["transactions"].add(identity)
        await self._write(
            (
                "INSERT OR REPLACE INTO transactions (identity, provisional, csms_id) "
                "VALUES (?, ?, ?)",
                (identity, provisional, csms_id),
            )
        )

    async def transaction_map(self, identity: str) -> dict[int, int]:
        """Provisional id -> the CSMS's id."""
        if identity not in self._may_have["transactions"]:
            return {}
        rows = await self._read(
            "SELECT provisional, csms_id FROM transactions WHERE identity = ?", (identity,)
        )
        return {int(provisional): int(csms_id) for provisional, csms_id in rows}

    async def forget_transaction(self, identity: str, provisional: int) -> None:
        await self._write(
            (
                "DELETE FROM transactions WHERE identity = ? AND provisional = ?",
                (identity, provisional),
            )
        )

    # --- authorization cache ------------------------------------------------------------------

    async def remember_authorization(
        self, scope: str, id_token: str, info: dict[str, Any], expires_at: float | None
    ) -> None:
        await self._write(
            (
                "INSERT OR REPLACE INTO authorizations (scope, id_token, info, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (scope, id_token, json.dumps(info), expires_at),
            )
        )

    async def authorizations(self, scope: str) -> dict[str, tuple[dict[str, Any], float | None]]:
        """id token -> (idTagInfo / idTokenInfo as the CSMS sent it, expiry or None)."""
        rows = await self._read(
            "SELECT id_token, info, expires_at FROM authorizations WHERE scope = ?", (scope,)
        )
        cache: dict[str, tuple[dict[str, Any], float | None]] = {}
        for id_token, info, expires_at in rows:
            decoded: dict[str, Any] = json.loads(info)
            cache[str(id_token)] = (decoded, None if expires_at is None else float(expires_at))
        return cache

    # --- boot answers ---------------------------------------------------------------------------

    async def remember_boot(self, identity: str, answer: BootAnswer) -> None:
        if self._stored_boots.get(identity) == answer:
            return
        await self._write(
            (
                "INSERT OR REPLACE INTO boots (identity, status, interval_s) VALUES (?, ?, ?)",
                (identity, answer.status, answer.interval_s),
            )
        )
        self._stored_boots[identity] = answer

    async def boots(self) -> dict[str, BootAnswer]:
        rows = await self._read("SELECT identity, status, interval_s FROM boots")
        stored = {
            str(identity): BootAnswer(str(status), int(interval_s))
            for identity, status, interval_s in rows
        }
        self._stored_boots = dict(stored)
        return stored

    # --- refused transactions still to act on -------------------------------------------------

    async def remember_refusal(
        self, identity: str, transaction_id: int | str, evse_id: int | None
    ) -> None:
        self._may_have["refusals"].add(identity)
        await self._write(
            (
                """INSERT OR REPLACE INTO refusals (identity, transaction_id, evse_id)
                VALUES (?, ?, ?)""",
                (identity, json.dumps(transaction_id), evse_id),
            )
        )

    async def refusals(self, identity: str) -> list[tuple[int | str, int | None]]:
        """(transaction id, EVSE or None) of each refused transaction not yet acted on."""
        if identity not in self._may_have["refusals"]:
            return []
        rows = await self._read(
            """SELECT transaction_id, evse_id FROM refusals WHERE identity = ?
            ORDER BY transaction_id""",
            (identity,),
        )
        return [(json.loads(transaction), evse) for transaction, evse in rows]

    async def forget_refusal(self, identity: str, transaction_id: int | str) -> None:
        await self._write(
            (
                "DELETE FROM refusals WHERE identity = ? AND transaction_id = ?",
                (identity, json.dumps(transaction_id)),
            )
        )

    # --- latest StatusNotification per connector ----------------------------------------------

    async def remember_status(self, identity: str, connector_key: str, text: str) -> None:
        self._may_have["statuses"].add(identity)
        await self._write(
            (
                "INSERT OR REPLACE INTO statuses (identity, connector_key, text) VALUES (?, ?, ?)",
                (identity, connector_key, text),
            )
        )

    async def statuses(self, identity: str) -> list[str]:
        """Frame texts ordered by connector key, numbers compared as numbers ("2" before "10")."""
        if identity not in self._may_have["statuses"]:
            return []
        rows = await self._read(
            "SELECT connector_key, text FROM statuses WHERE identity = ?", (identity,)
        )
        ordered = sorted(rows, key=lambda row: _connector_order(str(row[0])))
        return [str(text) for _, text in ordered]

    async def clear_statuses(self, identity: str) -> None:
        await self._write(("DELETE FROM statuses WHERE identity = ?", (identity,)))


def _connector_order(connector_key: str) -> tuple[tuple[int, int | str], ...]:
    # "1", "2", "10", "1/2": digit runs compare as numbers, the rest as text.
    return tuple(
        (0, int(part)) if part.isdecimal() else (1, part)  # isdigit takes '²'
        for part in re.split(r"(\d+)", connector_key)
        if part
    )
