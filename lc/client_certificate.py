"""Which of its charging-station certificates the LC presents to a `wss://` CSMS: on its own
link the renewed one on trial, else the settled one; on the chargers' CSMS links always the
settled one, so they follow what the LC's own link settled on. `certificates.client_trial`
decides; this carries it out on the links and the files."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from certificates.client_trial import ClientCertificateTrial, Output, Pair, Present, Settle
from certificates.own_identity import OwnCertificate, OwnCertificates
from certificates.renewal import RaiseSecurityEvent
from certificates.trust_store import TrustStore
from certificates.upstream_tls import managed_upstream_context
from ocpp_knowledge.security_events import RecordSecurityEvent
from router.server import Router
from router.tls import UpstreamTlsSettings
from station.link import StationLink
from supervision.tasks import Tasks

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OwnLinkAtCsms:
    """The LC's own link; `judges` when it dials the CSMS over TLS as configured: it alone
    can then tell whether the CSMS takes a certificate. Otherwise it still presents the
    settled one to any wss:// it dials (a network profile's, a raised security profile's)."""

    link: StationLink
    judges: bool


class ClientCertificateAtCsms:
    def __init__(
        self,
        configured: UpstreamTlsSettings | None,
        own: OwnCertificates,
        store: TrustStore,
        router: Router,
        own_link: OwnLinkAtCsms | None,
        tasks: Tasks,
        record_security_event: RecordSecurityEvent,
        renewed_discarded: Callable[[], None],
    ) -> None:
        """`configured`: [router.upstream_tls], without which the chargers' CSMS links dial
        as the router's config says and the LC's own link trusts the system's CAs too;
        `renewed_discarded`: told when a renewed certificate is discarded (A02.FR.29)."""
        self._configured = configured
        self._settings = configured or UpstreamTlsSettings()  # the system's CAs
        self._own = own
        self._store = store
        self._router = router
        self._own_link = own_link.link if own_link is not None else None
        self._judging_link = own_link.link if own_link is not None and own_link.judges else None
        self._tasks = tasks
        self._record_security_event = record_security_event
        self._renewed_discarded = renewed_discarded
        judged = self._judging_link is not None
        self._trial = ClientCertificateTrial(own.on_trial() is not None, judged)

    def start(self) -> None:
        """The certificates kept across restarts, before any link dials."""
        self._apply(self._trial.started())
        self.refresh()
        if self._judging_link is not None:
            self._judging_link.report_dials(self)

    def refresh(self) -> None:
        """Contexts made again for the next dials: e.g. a CSMS root installed meanwhile."""
        if self._configured is not None:
            self._router.use_upstream_tls(self._context(Pair.SETTLED))
        if self._own_link is not None:
            self._own_link.use_ssl_context(self._context(self._trial.presenting))

    def renewed(self) -> None:
        """A renewed certificate is stored (on trial): the LC's own link reconnects with it."""
        self._apply(self._trial.renewed())

    # ---- the LC's own link's dials (station.link.DialOutcomes) ----

    def every_entry_failed(self, back_to_last_connection: bool) -> None:
        self._apply(self._trial.every_entry_failed(back_to_last_connection))

    def connected(self) -> None:
        self._apply(self._trial.connected())

    def _pair(self, pair: Pair) -> OwnCertificate | None:
        if pair is Pair.RENEWED:
            return self._own.on_trial()
        return self._own.settled(datetime.now(UTC))

    def _context(self, pair: Pair) -> ssl.SSLContext:
        return managed_upstream_context(self._settings, self._pair(pair), self._store)

    def _apply(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Present):
                self._present(output)
            elif isinstance(output, Settle):
                self._settle(output.pair)
            elif isinstance(output, RaiseSecurityEvent):
                self._record_security_event(output.type, output.tech_info)

    def _present(self, present: Present) -> None:
        assert self._judging_link is not None  # only a link on trial presents anything
        self._judging_link.use_ssl_context(self._context(present.pair))
        if present.reconnect:
            # A task: the CertificateSigned answer goes out first, over the link it came by.
            self._tasks.spawn(self._judging_link.move(), "reconnect with the renewed certificate")
        elif present.pair is Pair.SETTLED:
            log.warning("no CSMS connection with the renewed client certificate: the old one")
        else:
            log.warning("no CSMS connection with the old client certificate: the renewed one")

    def _settle(self, pair: Pair) -> None:
        kept = self._pair(pair)
        if pair is Pair.SETTLED:
            self._own.keep_only(kept)
            self._renewed_discarded()
            return
        if kept is None:  # its files went meanwhile: nothing proven to keep alone
            log.error("the renewed client certificate is gone: every certificate kept")
            return
        self._own.keep_only(kept)
        serial = kept.certificate.serial_number
        log.info("renewed client certificate %x settled: the chargers' CSMS links follow", serial)
        if self._configured is not None:
            self._router.use_upstream_tls(self._context(Pair.SETTLED))
            self._tasks.spawn(self._router.redial_csms_links(), "redial CSMS links")
