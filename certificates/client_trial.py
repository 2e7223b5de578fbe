"""Which of its client certificates the LC presents to the CSMS after a renewal, sans-I/O
(2.0.1 errata 2025-09: A02.FR.08/10/28/29, A03.FR.08/10/24/25, with B10.FR.07-09).

A renewed certificate is on trial until the LC's own link connects: the link reconnects with
it at once; when no NetworkConfigurationPriority entry takes it, the LC falls back to the
old one (back to the last good connection, B10.FR.07) or, going round the entries again
(B10.FR.08), alternates old and renewed after each round; it never stops trying (B10.FR.09).
The first connection settles it: the certificate not in use is discarded, and a discarded
renewed one is a DiscardedRenewedClientCertificate security event, so that the CSMS knows to
renew again. The pairs on trial live on disk (`certificates.own_identity`), so a restart
resumes the trial with the renewed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from certificates.renewal import RaiseSecurityEvent

DISCARDED_RENEWED = "DiscardedRenewedClientCertificate"


class Pair(Enum):
    SETTLED = "settled"  # the one in use before the renewal (or the configured one)
    RENEWED = "renewed"  # the one on trial


@dataclass(frozen=True, slots=True)
class Present:
    """The LC's own link dials with `pair` from now on; with `reconnect`, it closes its open
    link to do so at once (A02.FR.08)."""

    pair: Pair
    reconnect: bool = False


@dataclass(frozen=True, slots=True)
class Settle:
    """Keep `pair` alone, discard the other (A02.FR.10); the chargers' CSMS links follow."""

    pair: Pair


Output = Present | Settle | RaiseSecurityEvent


class ClientCertificateTrial:
    def __init__(self, renewed_on_trial: bool, judged_by_own_link: bool = True) -> None:
        """`renewed_on_trial`: a renewed pair waits on disk for its first connection (after a
        restart); `judged_by_own_link`: whether the LC's own link dials with the certificate
        (over TLS). Without, no connection can tell, and a renewal settles at once."""
        self._on_trial = renewed_on_trial
        self._judged = judged_by_own_link
        self.presenting = Pair.RENEWED if renewed_on_trial else Pair.SETTLED

    @property
    def on_trial(self) -> bool:
        return self._on_trial

    def started(self) -> list[Output]:
        """The LC started: a renewed pair left on trial is settled at once when no own link
        can judge it (it was the newest, so in use)."""
        if self._on_trial and not self._judged:
            return self._settle_unjudged()
        return []

    def renewed(self) -> list[Output]:
        """A renewed certificate was stored (CertificateSigned, or valid from now)."""
        if not self._judged:
            return self._settle_unjudged()
        self._on_trial, self.presenting = True, Pair.RENEWED
        return [Present(Pair.RENEWED, reconnect=True)]

    def _settle_unjudged(self) -> list[Output]:
        self._on_trial, self.presenting = False, Pair.SETTLED
        return [Settle(Pair.RENEWED)]

    def every_entry_failed(self, back_to_last_connection: bool) -> list[Output]:
        """A whole round of NetworkConfigurationPriority failed; `back_to_last_connection`:
        the link now redials the last good one alone (B10.FR.07), else it goes round the
        entries again (B10.FR.08)."""
        if not self._on_trial:
            return []
        if back_to_last_connection:
            chosen = Pair.SETTLED  # A02.FR.28: fall back to the old certificate
        else:
            chosen = Pair.SETTLED if self.presenting is Pair.RENEWED else Pair.RENEWED
        if chosen is self.presenting:
            return []
        self.presenting = chosen
        return [Present(chosen)]

    def connected(self) -> list[Output]:
        """The LC's own link connected with the certificate it presents (A02.FR.10)."""
        if not self._on_trial:
            return []
        self._on_trial = False
        if self.presenting is Pair.RENEWED:
            self.presenting = Pair.SETTLED  # the renewed pair is the settled one now
            return [Settle(Pair.RENEWED)]
        info = "no CSMS connection with the renewed client certificate: the old one is in use"
        return [Settle(Pair.SETTLED), RaiseSecurityEvent(DISCARDED_RENEWED, info)]
