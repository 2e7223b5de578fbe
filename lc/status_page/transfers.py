"""The chargers' firmware updates and log uploads."""

from __future__ import annotations

from html import escape

from lc.status_page import cells
from lc.status_page.snapshot import StatusSnapshot
from lc.wording import (
    location_without_credentials,
    transfer_words,
)

_TRANSFER_KIND = {"firmware": "firmware update", "log": "log upload"}


def transfers_section(snapshot: StatusSnapshot) -> list[str]:
    transfers = [
        (charger.identity, transfer)
        for charger in sorted(snapshot.chargers, key=lambda c: c.identity)
        for _, transfer in sorted(charger.transfers.items())
    ]
    if not transfers:
        return []
    parts = [
        "<h2>Firmware updates and log uploads</h2>",
        '<div class="scroll">',
        cells.table_head("charger", "what", "file", "state", "since", "result"),
    ]
    for identity, transfer in transfers:
        location = transfer.location and location_without_credentials(transfer.location)
        parts.append(
            cells.row(
                escape(identity),
                _TRANSFER_KIND[transfer.kind],
                escape(location or "–"),
                escape(transfer_words(transfer.state)),
                cells.since(transfer.since, snapshot.now),
                cells.outcome(transfer.outcome),
            )
        )
    parts.append("</table></div>")
    return parts
