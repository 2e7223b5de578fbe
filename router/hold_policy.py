"""The router's side of the `hold` policy (errata 2025-02): the journal, what the offline
answers need to know across links, and the backlogs of chargers that are not connected.

Each charger's link holds and journals its own frames (router/link.py, router/offline.py);
this opens the journal they share, admits a charger while the CSMS is unreachable, gives each
new link its offline relay and hold, and delivers the backlogs of chargers that stay away
(router/unattended_replay.py).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Collection
from functools import partial
from pathlib import Path

from router.frames import OcppVersion
from router.journal import Journal, JournalError
from router.journal_bounds import JournalLimits
from router.link import HoldLink
from router.metrics import RouterMetrics
from router.offline import OfflineKnowledge, OfflineRelay, authorization_scope
from router.schemas import SchemaRegistry
from router.session import LinkSession, SessionSettings
from router.settings import HoldSettings
from router.start_error import StartError
from router.unattended_replay import Dial, UnattendedReplay, stored_handshake
from router.upstream import OUTAGE_REASONS, UpstreamRefused
from supervision.tasks import Tasks

log = logging.getLogger(__name__)

# Provisional 1.6 transaction ids each charger keeps ready for StartTransactions offline.
_PROVISIONAL_RESERVE = 4
_BACKLOG_REPORT_S = 5.0


class HoldPolicy:
    def __init__(
        self,
        settings: HoldSettings,
        dial: Dial,
        metrics: RouterMetrics,
        call_timeout_s: float,
        present: Callable[[str], bool],
    ) -> None:
        """`dial`: the CSMS, in turn with the handshakes; `present`: whether a charger's own
        link runs."""
        self._settings = settings
        self._dial = dial
        self._metrics = metrics
        self._knowledge = OfflineKnowledge()
        self.unattended = UnattendedReplay(
            dial,
            metrics,
            settings.offline,
            self._knowledge,
            settings.sealer,
            call_timeout_s,
            present,
        )
        self.journal: Journal | None = None  # open between start and stop
        self._tasks = Tasks()

    async def start(self) -> None:
        journal = await _open_journal(self._settings.journal_path, self._settings.limits)
        self.journal = journal
        for version in OcppVersion:
            scope = authorization_scope(version)
            self._knowledge.authorizations[scope] = await journal.authorizations(scope)
        self._knowledge.boots = await journal.boots()
        self._tasks.spawn(self._report_backlog(journal), "journal-backlog-report")
        interval = self._settings.offline.redial_interval_s
        self._tasks.spawn(self.unattended.run(journal, interval), "unattended-replay")

    async def stop(self) -> None:
        await self._tasks.stop()
        if self.journal is not None:
            await self.journal.close()
            self.journal = None

    async def admit_offline(
        self,
        identity: str,
        authorization: str | None,
        offered: list[str],
        refusal: UpstreamRefused,
    ) -> str | None:
        """The subprotocol to accept a charger with while its CSMS is unreachable, or None.

        Only chargers whose credentials the CSMS accepted before get in (DESIGN §8): their
        salted hash is compared, the secret itself is never stored.
        """
        if self.journal is None or refusal.reason not in OUTAGE_REASONS:
            return None
        protocol = await self.journal.admit(identity, authorization)
        if protocol is None or protocol not in offered:
            log.warning("%s: refused while the CSMS is unreachable: unknown credentials", identity)
            return None
        log.info("%s: admitted while the CSMS is unreachable", identity)
        return protocol

    def remember_credentials(
        self, identity: str, authorization: str | None, protocol: str, keep: Collection[str]
    ) -> None:
        """The CSMS accepted these credentials and the charger is here: their salted hash
        admits the charger during an outage (`keep`: the chargers connected, never pruned)."""
        journal = self.journal
        if journal is None:
            return
        self._tasks.spawn(
            journal.remember_credentials(identity, authorization, protocol, keep=keep),
            "remember-credentials",
        )

    async def link_parts(
        self,
        identity: str,
        version: OcppVersion,
        session_settings: SessionSettings,
        schemas: SchemaRegistry,
        path: str,
        offered: list[str],
        headers: dict[str, str],
        protocol: str,
    ) -> tuple[LinkSession, HoldLink] | None:
        """A new link's session and hold, from the charger's handshake: its path, the
        subprotocols it offered, its headers, and the subprotocol agreed. None while the
        journal is not open: nothing can be held."""
        journal = self.journal
        if journal is None:
            return None
        reserve: list[int] = []
        if version is OcppVersion.V16:  # 2.0.1 chargers choose their transaction ids
            reserve = await journal.next_provisional_transaction_ids(identity, _PROVISIONAL_RESERVE)
        offline = OfflineRelay(
            identity,
            version,
            self._settings.offline,
            self._knowledge,
            await journal.transaction_map(identity),
            reserve,
        )
        session = LinkSession(identity, version, session_settings, schemas, offline)
        hold = HoldLink(
            journal,
            partial(self._dial, path, offered, headers),
            self._settings.offline.redial_interval_s,
            stored_handshake(
                identity, path, protocol, headers.get("Authorization"), self._settings.sealer
            ),
        )
        return session, hold

    async def _report_backlog(self, journal: Journal) -> None:
        while True:
            backlog = await journal.backlog()
            self._metrics.journal_backlog.set(sum(count for count, _ in backlog.values()))
            oldest = min((at for _, at in backlog.values()), default=None)
            age = 0.0 if oldest is None else max(0.0, time.time() - oldest)
            self._metrics.journal_oldest_age.set(age)
            await asyncio.sleep(_BACKLOG_REPORT_S)


async def _open_journal(path: Path, limits: JournalLimits) -> Journal:
    try:
        return await Journal.open(path, limits)
    except (OSError, sqlite3.Error, JournalError) as exc:
        raise StartError("router.offline.journal_path", f"cannot open {path}: {exc}") from exc
