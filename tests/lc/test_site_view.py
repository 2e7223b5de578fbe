"""The status page's view of chargers and sessions, fed with router events."""

from __future__ import annotations

from lc.site_view import ENDED_SESSIONS_KEPT, SiteView
from router import events as ev
from router.frames import OcppVersion


def _connected(
    view: SiteView, identity: str = "CP1", version: OcppVersion = OcppVersion.V201
) -> None:
    view.handle(ev.ChargerConnected(identity, version), now=100.0)


def test_a_201_session_from_start_to_end_with_its_energy() -> None:
    view = SiteView()
    _connected(view)
    view.handle(ev.BootNotified("CP1", "ACME", "Wallbox", "1.2.3", "Accepted", 300), 101.0)
    view.handle(ev.TransactionStarted("CP1", "tx-1", 2, "TOKEN", None), 110.0)
    view.handle(ev.TransactionUpdated("CP1", "tx-1", None, "Charging"), 111.0)
    view.handle(ev.MeterSampled("CP1", None, "tx-1", (16.0, 15.5, None), 11000.0, 1000.0), 120.0)
    view.handle(ev.MeterSampled("CP1", None, "tx-1", (16.0, 16.0, 16.0), 11040.0, 4500.0), 130.0)

    charger = view.chargers["CP1"]
    assert (charger.vendor, charger.model, charger.firmware) == ("ACME", "Wallbox", "1.2.3")
    session = charger.sessions["tx-1"]
    assert session.evse_id == 2  # named only in the first event
    assert session.charging_state == "Charging"
    assert session.delivered_wh == 3500.0  # from the first energy reading seen
    assert session.current_a == (16.0, 16.0, 16.0)
    assert session.started_at == 110.0

    view.handle(ev.TransactionEnded("CP1", "tx-1", None, None, "EVDisconnected"), 200.0)
    assert charger.sessions == {}
    [ended] = view.ended
    assert (ended.transaction_id, ended.end_reason, ended.ended_at) == (
        "tx-1",
        "EVDisconnected",
        200.0,
    )
    assert ended.delivered_wh == 3500.0


def test_a_16_session_uses_meter_start_and_stop_and_readings_by_connector() -> None:
    view = SiteView()
    _connected(view, version=OcppVersion.V16)
    view.handle(ev.StatusChanged("CP1", 1, None, "Charging"), 101.0)
    view.handle(ev.TransactionStarted("CP1", "17", 1, "TAG", 2000.0), 102.0)
    # 1.6 MeterValues may leave out the transaction id: the connector says which session.
    view.handle(ev.MeterSampled("CP1", 1, None, (10.0, 10.0, 10.0), 6900.0, 2600.0), 110.0)
    session = view.chargers["CP1"].sessions["17"]
    assert session.delivered_wh == 600.0
    view.handle(ev.TransactionEnded("CP1", "17", None, 5000.0, "Local"), 300.0)
    assert view.ended[-1].delivered_wh == 3000.0


def test_readings_outside_a_session_do_not_invent_one() -> None:
    view = SiteView()
    _connected(view)
    view.handle(ev.MeterSampled("CP1", 0, None, (1.0, 1.0, 1.0), None, 10.0), 101.0)
    view.handle(ev.TransactionEnded("CP1", "gone", 1, 10.0, "Local"), 101.5)
    view.handle(ev.MeterSampled("CP1", 1, "gone", (1.0, 1.0, 1.0), None, 10.0), 102.0)
    assert view.chargers["CP1"].sessions == {}


def test_a_session_from_before_an_lc_restart_is_taken_back_at_its_meter_values() -> None:
    view = SiteView()
    _connected(view)
    view.handle(ev.MeterSampled("CP1", 1, "4711", (16.0, 16.0, 16.0), 11000.0, 5000.0), 101.0)
    session = view.chargers["CP1"].sessions["4711"]
    assert (session.evse_id, session.current_a, session.energy_wh) == (
        1,
        (16.0, 16.0, 16.0),
        5000.0,
    )


def test_a_disconnected_charger_stays_listed_with_its_reason_until_it_returns() -> None:
    view = SiteView()
    _connected(view)
    view.handle(ev.ChargerDisconnected("CP1", "charger link closed"), 150.0)
    charger = view.chargers["CP1"]
    assert (charger.connected, charger.since, charger.disconnect_reason) == (
        False,
        150.0,
        "charger link closed",
    )
    view.handle(ev.ChargerConnected("CP1", OcppVersion.V201), 160.0)
    assert (charger.connected, charger.since, charger.disconnect_reason) == (True, 160.0, None)


def test_a_session_whose_energy_the_lc_stopped_is_marked() -> None:
    view = SiteView()
    _connected(view)
    view.handle(ev.TransactionStarted("CP1", "tx-9", 1, None, None), 101.0)
    view.handle(ev.EnergySuspended("CP1", 1), 102.0)
    assert view.chargers["CP1"].sessions["tx-9"].energy_suspended


def test_only_the_latest_ended_sessions_are_kept() -> None:
    view = SiteView()
    _connected(view)
    for number in range(ENDED_SESSIONS_KEPT + 5):
        view.handle(ev.TransactionStarted("CP1", f"tx-{number}", 1, None, 0.0), float(number))
        view.handle(ev.TransactionEnded("CP1", f"tx-{number}", 1, 100.0, None), number + 0.5)
    assert len(view.ended) == ENDED_SESSIONS_KEPT
    assert view.ended[-1].transaction_id == f"tx-{ENDED_SESSIONS_KEPT + 4}"
    assert view.ended[0].transaction_id == "tx-5"


def test_a_csms_outage_is_shown_until_the_link_is_back_or_the_charger_reconnects() -> None:
    view = SiteView()
    _connected(view)
    view.handle(ev.CsmsLinkChanged("CP1", connected=False), 110.0)
    assert not view.chargers["CP1"].csms_connected
    view.handle(ev.CsmsLinkChanged("CP1", connected=True), 120.0)
    assert view.chargers["CP1"].csms_connected
    view.handle(ev.CsmsLinkChanged("CP1", connected=False), 130.0)
    view.handle(ev.ChargerConnected("CP1", OcppVersion.V201), 140.0)
    assert view.chargers["CP1"].csms_connected  # a new connection starts with its CSMS link up
