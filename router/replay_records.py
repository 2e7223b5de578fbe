"""What a replay to the CSMS teaches, written to the journal and counted.

Shared by a charger's own link (router/link.py) and the replay the LC makes without the
charger (router/unattended_replay.py): both drive the same `OfflineRelay` and must keep the
same books.
"""

from __future__ import annotations

from router.journal import Journal
from router.local_answers import BootAnswer
from router.metrics import RouterMetrics
from router.offline import ReplayItem
from router.outputs import (
    AuthorizationLearned,
    BootLearned,
    IdRemapped,
    OfflineOutput,
    ReplayDelivered,
    Replayed,
    ReplayFinished,
    TransactionMapped,
    TransactionRefused,
)


async def backlog(journal: Journal, identity: str) -> list[ReplayItem]:
    """What to replay for a charger: its journaled requests, then its latest statuses."""
    items = [
        ReplayItem(entry.seq, entry.text, entry.provisional_transaction_id, entry.sent_before)
        for entry in await journal.pending(identity)
    ]
    return items + [ReplayItem(None, text) for text in await journal.statuses(identity)]


async def record(
    journal: Journal, metrics: RouterMetrics, identity: str, output: OfflineOutput
) -> None:
    """Journal or count one replay output; outputs a replay never gives are ignored."""
    if isinstance(output, ReplayDelivered):
        # Not awaited: the next entry need not wait for this one's fsync (see acknowledge_soon).
        journal.acknowledge_soon(identity, output.seq)
    elif isinstance(output, ReplayFinished):
        if output.statuses_delivered:
            await journal.clear_statuses(identity)
    elif isinstance(output, TransactionMapped):
        await journal.map_transaction(identity, output.provisional, output.csms_id)
    elif isinstance(output, AuthorizationLearned):
        await journal.remember_authorization(
            output.scope, output.id_token, output.info, output.expires_at
        )
    elif isinstance(output, BootLearned):
        await journal.remember_boot(identity, BootAnswer(output.status, output.interval_s))
    elif isinstance(output, Replayed):
        metrics.replayed.labels(output.action).inc()
    elif isinstance(output, IdRemapped):
        metrics.id_remaps.labels(output.direction.value).inc()
    elif isinstance(output, TransactionRefused):
        # Journaled first: the charger (after a restart of the LC, too) acts on it.
        await journal.remember_refusal(identity, output.transaction_id, output.evse_id)
