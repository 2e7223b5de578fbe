"""What the site manager's status page shows of the chargers, built from the router's events.

Unlike the balancer's site model, this keeps what a person wants to read (who connected
when, firmware, connector states, each session's energy so far, the sessions that just
ended) and it works without a load balancer. Id tokens are not kept: they identify people.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from router import events as ev
from router.frames import OcppVersion
from router.transfers import transfer_outcome

ENDED_SESSIONS_KEPT = 20


@dataclass(slots=True)
class SessionView:
    identity: str
    transaction_id: str
    evse_id: int | None
    started_at: float  # wall time the LC saw it start
    energy_start_wh: float | None = None
    energy_wh: float | None = None  # the latest energy register reading
    power_w: float | None = None
    current_a: ev.ChargerPhaseReadings = (None, None, None)
    charging_state: str | None = None
    energy_suspended: bool = False  # the CSMS refused its id after an outage
    ended_at: float | None = None
    end_reason: str | None = None

    @property
    def delivered_wh(self) -> float | None:
        if self.energy_start_wh is None or self.energy_wh is None:
            return None
        return max(0.0, self.energy_wh - self.energy_start_wh)


@dataclass(slots=True)
class TransferView:
    """A charger's latest firmware update or log upload as the CSMS asked for it."""

    kind: str  # "firmware" or "log"
    location: str | None
    requested_at: float | None  # None: the LC saw only the charger's notifications
    state: str  # the charger's answer, then its latest status notification
    since: float  # wall time of the latest state
    outcome: str | None = None  # set once the transfer is over (router.transfers)


@dataclass(slots=True)
class ChargerView:
    identity: str
    version: OcppVersion
    connected: bool
    since: float  # wall time of the last connection or disconnection
    disconnect_reason: str | None = None
    csms_connected: bool = True  # False: under `hold`, the LC answers the charger itself
    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None
    boot_status: str | None = None
    # (evse id, connector id or None) -> the latest status the charger reported
    statuses: dict[tuple[int, int | None], str] = field(default_factory=dict)
    sessions: dict[str, SessionView] = field(default_factory=dict)  # ongoing, by transaction id
    transfers: dict[str, TransferView] = field(default_factory=dict)  # by kind


class SiteView:
    def __init__(self) -> None:
        self.chargers: dict[str, ChargerView] = {}
        self.ended: deque[SessionView] = deque(maxlen=ENDED_SESSIONS_KEPT)  # newest last

    def handle(self, event: ev.Event, now: float) -> None:
        """Apply one router event seen at wall time `now`."""
        if isinstance(event, ev.ChargerConnected):
            charger = self.chargers.get(event.identity)
            if charger is None:
                self.chargers[event.identity] = ChargerView(
                    event.identity, event.version, True, now
                )
                return
            charger.version, charger.connected, charger.since = event.version, True, now
            charger.disconnect_reason, charger.csms_connected = None, True
            return
        charger = self.chargers.get(event.identity)
        if charger is None:
            return  # events only follow a ChargerConnected
        if isinstance(event, ev.ChargerDisconnected):
            charger.connected, charger.since = False, now
            charger.disconnect_reason = event.reason
        elif isinstance(event, ev.CsmsLinkChanged):
            charger.csms_connected = event.connected
        elif isinstance(event, ev.BootNotified):
            charger.vendor, charger.model = event.vendor, event.model
            charger.firmware, charger.boot_status = event.firmware_version, event.status
        elif isinstance(event, ev.StatusChanged):
            charger.statuses[(event.evse_id, event.connector_id)] = event.status
        elif isinstance(event, ev.TransactionStarted):
            session = self._session(charger, event.transaction_id, event.evse_id, now)
            if event.meter_start_wh is not None:
                session.energy_start_wh = event.meter_start_wh
        elif isinstance(event, ev.TransactionUpdated):
            session = self._session(charger, event.transaction_id, event.evse_id, now)
            session.charging_state = event.charging_state or session.charging_state
        elif isinstance(event, ev.TransactionEnded):
            self._ended(charger, event, now)
        elif isinstance(event, ev.MeterSampled):
            self._sampled(charger, event, now)
        elif isinstance(event, ev.TransferRequested):
            charger.transfers[event.kind] = TransferView(
                event.kind, event.location, now, event.answer, now, transfer_outcome(event)
            )
        elif isinstance(event, ev.TransferStatusReported):
            self._transfer_status(charger, event, now)
        elif isinstance(event, ev.EnergySuspended):
            for session in charger.sessions.values():
                if session.evse_id == event.evse_id:
                    session.energy_suspended = True

    def _transfer_status(
        self, charger: ChargerView, event: ev.TransferStatusReported, now: float
    ) -> None:
        transfer = charger.transfers.get(event.kind)
        if event.status == "Idle":
            return  # the answer to a TriggerMessage when nothing goes on: nothing new
        if transfer is None or transfer.outcome is not None:
            # a transfer the LC did not see requested (it started before the LC did)
            transfer = TransferView(event.kind, None, None, event.status, now)
            charger.transfers[event.kind] = transfer
        transfer.state, transfer.since = event.status, now
        transfer.outcome = transfer_outcome(event)

    def _session(
        self, charger: ChargerView, transaction_id: str, evse_id: int | None, now: float
    ) -> SessionView:
        session = charger.sessions.get(transaction_id)
        if session is None:
            session = SessionView(charger.identity, transaction_id, evse_id, now)
            charger.sessions[transaction_id] = session
        if evse_id:
            session.evse_id = evse_id
        return session

    def _ended(self, charger: ChargerView, event: ev.TransactionEnded, now: float) -> None:
        session = charger.sessions.pop(event.transaction_id, None)
        if session is None:  # it started before the LC did
            session = SessionView(charger.identity, event.transaction_id, event.evse_id, now)
        if event.meter_stop_wh is not None:
            session.energy_wh = event.meter_stop_wh
        session.ended_at, session.end_reason = now, event.reason
        self.ended.append(session)

    def _sampled(self, charger: ChargerView, event: ev.MeterSampled, now: float) -> None:
        session: SessionView | None
        if any(ended.transaction_id == event.transaction_id for ended in self.ended):
            return  # a late reading of a session that ended
        if event.transaction_id is not None:
            # One the LC did not see start (it ran before an LC restart) is taken back here.
            session = self._session(charger, event.transaction_id, event.evse_id, now)
        else:
            session = next(
                (
                    s
                    for s in charger.sessions.values()
                    if event.evse_id and s.evse_id == event.evse_id
                ),
                None,
            )
        if session is None:
            return  # outside an ongoing session: the whole charger's meter, or a late reading
        if event.energy_wh is not None:
            if session.energy_start_wh is None:
                session.energy_start_wh = event.energy_wh
            session.energy_wh = event.energy_wh
        session.power_w = event.power_w
        session.current_a = event.current_a
