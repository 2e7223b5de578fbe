"""SiteModel: the site as the router's observation events describe it, and its snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from balancer.config import BalancerConfig, ChargerSettings, LoopSettings, MeterSettings
from balancer.evse_plan import evse_states
from balancer.model import SiteModel
from balancer.ramp import Commanded
from balancer.site import EvseState, MeterReading, SessionState
from balancer.site_meters import site_reading
from modbus.link import TcpLink
from modbus.reader import MeterConfig
from router import events as ev
from router.frames import OcppVersion

V16, V201 = OcppVersion.V16, OcppVersion.V201
MAX_AGE_S = 30.0
NO_READINGS = (None, None, None)


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def config(*chargers: ChargerSettings, unlisted: ChargerSettings | None = None) -> BalancerConfig:
    return BalancerConfig(
        phase_cap_a=(63.0, 63.0, 63.0),
        meter=MeterSettings(MeterConfig(TcpLink("meter.example", 502), "eastron_sdm630")),
        loop=LoopSettings(measurement_max_age_s=MAX_AGE_S),
        chargers=chargers,
        unlisted_charger=unlisted or ChargerSettings("*", 16.0, 0.0),
    )


CP1 = ChargerSettings(
    "CP1",
    max_current_a=32.0,
    safe_current_a=6.0,
    min_current_a=6.0,
    phases=3,
    phase_rotation=(2, 3, 1),
    priority=2,
    evses=2,
)
SINGLE = ChargerSettings("CP2", max_current_a=16.0, safe_current_a=0.0, phases=1)


WALL_NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class WallClock:
    def __init__(self, now: datetime = WALL_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def model(
    *chargers: ChargerSettings,
    clock: Clock | None = None,
    wall_clock: WallClock | None = None,
    **kwargs: Any,
) -> SiteModel:
    return SiteModel(
        config(*(chargers or (CP1,)), **kwargs), clock or Clock(), wall_clock or WallClock()
    )


def feed(site: SiteModel, *events: ev.Event) -> SiteModel:
    for event in events:
        site.handle(event)
    return site


def states(
    site: SiteModel,
    now: float = 1_000.0,
    commanded: dict[str, float] | None = None,
    disobedient: set[str] | None = None,
    turns: dict[str, tuple[float | None, float | None]] | None = None,
) -> dict[str, EvseState]:
    limits = {key: Commanded(limit, 0.0) for key, limit in (commanded or {}).items()}
    snapshot = evse_states(site, now, limits, disobedient or set(), turns or {})
    return {state.evse_id: state for state in snapshot}


def session(site: SiteModel, key: str = "CP1/1") -> SessionState:
    return site.evses[key].session


def started(tid: str, evse: int | None = 1, identity: str = "CP1") -> ev.TransactionStarted:
    return ev.TransactionStarted(identity, tid, evse, "TAG", 0.0)


def status(value: str, evse: int = 1, identity: str = "CP1") -> ev.StatusChanged:
    return ev.StatusChanged(identity, evse, evse, value)


def sampled(
    currents: tuple[float | None, float | None, float | None],
    evse: int | None = 1,
    tid: str | None = "17",
    identity: str = "CP1",
) -> ev.MeterSampled:
    return ev.MeterSampled(identity, evse, tid, currents, None, None)


# -- chargers and EVSEs -----------------------------------------------------------------------


def test_connected_charger_gets_its_configured_evses_idle() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16))
    snapshot = states(site)
    assert list(snapshot) == ["CP1/1", "CP1/2"]
    one = snapshot["CP1/1"]
    assert one.session is SessionState.IDLE
    assert (one.max_current, one.safe_current, one.min_current) == (32.0, 6.0, 6.0)
    assert one.phase_map == (2, 3, 1) and one.phases_in_use == 3 and one.priority == 2
    assert one.obeys is True and one.measured == NO_READINGS and one.csms_limit is None


def test_evses_of_a_charger_that_never_connected_are_not_planned() -> None:
    site = feed(model(), status("Charging", identity="CP9"))
    assert states(site) == {}


def test_unlisted_charger_uses_the_unlisted_defaults() -> None:
    unlisted = ChargerSettings("*", 20.0, 0.0, min_current_a=8.0, phases=1, priority=-1, evses=2)
    site = feed(model(CP1, unlisted=unlisted), ev.ChargerConnected("GUEST", V201))
    snapshot = states(site)
    assert set(snapshot) == {"GUEST/1", "GUEST/2"}  # CP1 is listed but not connected
    guest = snapshot["GUEST/1"]
    assert (guest.max_current, guest.min_current, guest.phases_in_use) == (20.0, 8.0, 1)
    assert guest.priority == -1
    assert site.chargers["GUEST"].settings.identity == "GUEST"


def test_commanded_limits_and_turns_are_carried_into_the_snapshot() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("17"))
    turns = {"CP1/1": (500.0, None), "CP1/2": (None, 700.0)}
    snapshot = states(site, commanded={"CP1/1": 12.5}, turns=turns)
    assert snapshot["CP1/1"].allocated == 12.5
    assert (snapshot["CP1/1"].charging_since, snapshot["CP1/1"].paused_since) == (500.0, None)
    assert snapshot["CP1/2"].allocated == 0.0
    assert (snapshot["CP1/2"].charging_since, snapshot["CP1/2"].paused_since) == (None, 700.0)


# -- OCPP 1.6 sessions ------------------------------------------------------------------------


def test_v16_session_from_start_to_stop() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), status("Preparing"))
    assert session(site) is SessionState.IDLE

    site.handle(started("17"))
    assert session(site) is SessionState.STARTING
    assert site.evses["CP1/1"].transaction_id == "17"

    site.handle(status("Charging"))
    assert session(site) is SessionState.CHARGING

    site.handle(status("SuspendedEV"))
    assert session(site) is SessionState.SUSPENDED_EV

    site.handle(sampled((15.8, 16.1, 15.9)))
    assert session(site) is SessionState.CHARGING
    assert states(site)["CP1/1"].measured == (15.8, 16.1, 15.9)

    # 1.6 StopTransaction names no connector: the transaction id says which EVSE ended
    site.handle(ev.TransactionEnded("CP1", "17", None, 12_000.0, "Local"))
    record = site.evses["CP1/1"]
    assert record.session is SessionState.IDLE
    assert record.transaction_id is None
    assert record.measured == NO_READINGS and record.measured_at is None
    assert session(site, "CP1/2") is SessionState.IDLE


def test_session_suspended_by_the_evse_is_treated_as_starting() -> None:
    # usually the LC's own pause: the minimum stays reserved, it rises once it draws again
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("17"), status("Charging"))
    site.handle(status("SuspendedEVSE"))
    assert session(site) is SessionState.STARTING
    site.handle(sampled((7.0, 7.0, 7.0)))
    assert session(site) is SessionState.CHARGING


def test_stop_of_an_unknown_transaction_changes_nothing() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("17"), status("Charging"))
    site.handle(ev.TransactionEnded("CP1", "99", None, None, None))
    assert session(site) is SessionState.CHARGING
    assert site.evses["CP1/1"].transaction_id == "17"


def test_status_without_a_transaction_does_not_start_a_session() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), status("Charging"))
    assert session(site) is SessionState.IDLE


def test_status_of_the_whole_charger_is_ignored() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("17"), status("Charging", 0))
    assert session(site) is SessionState.STARTING
    assert "CP1/0" not in site.evses


def test_start_without_a_connector_is_ignored() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("17", evse=None))
    assert all(record.transaction_id is None for record in site.evses.values())


def test_a_session_drawing_little_is_still_starting_but_its_current_is_recorded() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("17"))
    site.handle(sampled((0.5, 0.4, None)))
    assert session(site) is SessionState.STARTING
    assert states(site)["CP1/1"].measured == (0.5, 0.4, None)


def test_samples_without_an_evse_or_without_currents_are_ignored() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("17"))
    site.handle(sampled((20.0, 20.0, 20.0), evse=None, tid=None))
    site.handle(sampled((20.0, 20.0, 20.0), evse=0))
    site.handle(sampled(NO_READINGS))
    assert session(site) is SessionState.STARTING
    assert site.evses["CP1/1"].measured_at is None


def test_a_sample_naming_a_known_transaction_needs_no_evse() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V201), started("17", evse=2))
    site.handle(sampled((20.0, 20.0, 20.0), evse=None))
    assert site.evses["CP1/2"].measured == (20.0, 20.0, 20.0)
    assert session(site, "CP1/2") is SessionState.CHARGING


def test_a_v16_session_running_before_an_lc_restart_is_taken_back_at_its_meter_values() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16))
    site.handle(sampled((16.0, 16.0, 16.0), evse=2, tid="4711"))
    record = site.evses["CP1/2"]
    assert (record.transaction_id, record.session) == ("4711", SessionState.CHARGING)
    assert record.started_at == WALL_NOW
    site.handle(ev.TransactionEnded("CP1", "4711", None, None, None))
    site.handle(sampled((16.0, 16.0, 16.0), evse=2, tid="4711"))  # a late one: no new session
    assert (record.transaction_id, record.session) == (None, SessionState.IDLE)


def test_a_v201_update_without_evse_is_taken_back_on_a_charger_with_one_evse() -> None:
    site = feed(model(SINGLE), ev.ChargerConnected("CP2", V201))
    site.handle(ev.TransactionUpdated("CP2", "tx-r", None, "Charging"))
    assert site.evses["CP2/1"].transaction_id == "tx-r"
    assert session(site, "CP2/1") is SessionState.CHARGING
    site.handle(sampled((12.0, None, None), evse=None, tid="tx-r", identity="CP2"))
    assert site.evses["CP2/1"].measured == (12.0, None, None)


def test_current_drawn_without_a_transaction_is_recorded_but_starts_nothing() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16))
    site.handle(sampled((10.0, 10.0, 10.0), tid=None))
    assert session(site) is SessionState.IDLE
    assert site.evses["CP1/1"].measured == (10.0, 10.0, 10.0)


# -- OCPP 2.0.1 sessions ----------------------------------------------------------------------


def test_v201_session_follows_the_charging_state() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V201), started("tx-a"))
    assert session(site) is SessionState.STARTING

    # after the first event 2.0.1 may leave the EVSE out: the transaction id says which
    site.handle(ev.TransactionUpdated("CP1", "tx-a", None, "SuspendedEV"))
    assert session(site) is SessionState.SUSPENDED_EV

    site.handle(ev.TransactionUpdated("CP1", "tx-a", None, "Charging"))
    assert session(site) is SessionState.CHARGING

    site.handle(ev.TransactionUpdated("CP1", "tx-a", None, "EVConnected"))
    assert session(site) is SessionState.CHARGING  # states the balancer does not act on

    site.handle(ev.TransactionEnded("CP1", "tx-a", 1, None, "EVDisconnected"))
    assert session(site) is SessionState.IDLE
    assert site.evses["CP1/1"].transaction_id is None


def test_v201_session_suspended_by_the_evse_is_treated_as_starting() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V201),
        started("tx-d"),
        ev.TransactionUpdated("CP1", "tx-d", None, "Charging"),
        ev.TransactionUpdated("CP1", "tx-d", None, "SuspendedEVSE"),
    )
    assert session(site) is SessionState.STARTING


def test_v201_update_naming_the_evse_adopts_a_transaction_whose_start_was_missed() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V201), started("tx-b", evse=None))
    site.handle(ev.TransactionUpdated("CP1", "tx-b", 2, "EVConnected"))
    assert session(site, "CP1/2") is SessionState.STARTING
    assert site.evses["CP1/2"].transaction_id == "tx-b"


def test_v201_update_of_an_unknown_transaction_without_evse_is_ignored() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V201))
    site.handle(ev.TransactionUpdated("CP1", "tx-z", None, "Charging"))
    assert all(record.session is SessionState.IDLE for record in site.evses.values())


def test_v201_started_with_a_charging_state_goes_straight_to_charging() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V201),
        started("tx-c"),
        ev.TransactionUpdated("CP1", "tx-c", 1, "Charging"),
    )
    assert session(site) is SessionState.CHARGING


# -- snapshots --------------------------------------------------------------------------------


def test_measured_currents_older_than_the_max_age_are_dropped() -> None:
    clock = Clock(1_000.0)
    site = feed(model(clock=clock), ev.ChargerConnected("CP1", V16), started("17"))
    site.handle(sampled((16.0, 16.0, 16.0)))
    assert states(site, now=1_000.0 + MAX_AGE_S)["CP1/1"].measured == (16.0, 16.0, 16.0)
    assert states(site, now=1_000.0 + MAX_AGE_S + 0.1)["CP1/1"].measured == NO_READINGS
    clock.now = 1_040.0
    site.handle(sampled((12.0, 12.0, 12.0)))
    assert states(site, now=1_060.0)["CP1/1"].measured == (12.0, 12.0, 12.0)


def test_disconnected_charger_is_planned_at_its_last_limit_and_not_steered() -> None:
    site = feed(
        model(CP1),
        ev.ChargerConnected("CP1", V16),
        started("17"),
        ev.ChargerDisconnected("CP1", "connection lost"),
    )
    snapshot = states(site, commanded={"CP1/1": 10.0})
    assert snapshot["CP1/1"].max_current == 10.0
    assert snapshot["CP1/1"].obeys is False
    assert snapshot["CP1/2"].max_current == 32.0  # nothing commanded: its maximum
    assert snapshot["CP1/2"].obeys is False


def test_disconnected_charger_paused_by_the_lc_is_planned_at_least_at_its_minimum() -> None:
    site = feed(
        model(CP1),
        ev.ChargerConnected("CP1", V16),
        started("17"),
        ev.ChargerDisconnected("CP1", "connection lost"),
    )
    assert states(site, commanded={"CP1/1": 0.0})["CP1/1"].max_current == 6.0


def test_reconnected_charger_is_steered_again_and_keeps_its_session() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        started("17"),
        status("Charging"),
        ev.ChargerDisconnected("CP1", "connection lost"),
        ev.ChargerConnected("CP1", V16),
    )
    snapshot = states(site, commanded={"CP1/1": 10.0})
    assert snapshot["CP1/1"].obeys is True and snapshot["CP1/1"].max_current == 32.0
    assert snapshot["CP1/1"].session is SessionState.CHARGING


def test_disobedient_evse_is_not_steered_and_planned_at_its_maximum() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("17"))
    snapshot = states(site, commanded={"CP1/1": 10.0}, disobedient={"CP1/1"})
    assert snapshot["CP1/1"].obeys is False and snapshot["CP1/1"].max_current == 32.0
    assert snapshot["CP1/2"].obeys is True


def test_disconnected_charger_with_a_safe_current_above_its_last_limit_can_be_planned() -> None:
    cp = ChargerSettings("CP3", max_current_a=32.0, safe_current_a=10.0, min_current_a=6.0)
    site = feed(
        model(cp),
        ev.ChargerConnected("CP3", V16),
        started("17", identity="CP3"),
        ev.ChargerDisconnected("CP3", "connection lost"),
    )
    state = states(site, commanded={"CP3/1": 0.0})["CP3/1"]
    assert state.obeys is False
    assert state.max_current >= 6.0


# -- limits the CSMS set ----------------------------------------------------------------------


def profile_16(profile_id: int, limit: float, unit: str = "A", phases: int = 3) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, "numberPhases": phases}],
        },
    }


def profile_201(profile_id: int, *periods: tuple[float, int], unit: str = "W") -> dict[str, Any]:
    return {
        "id": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [
                    {"startPeriod": 3600 * index, "limit": limit, "numberPhases": phases}
                    for index, (limit, phases) in enumerate(periods)
                ],
            }
        ],
    }


def csms_limits(site: SiteModel) -> dict[str, float | None]:
    return {key: state.csms_limit for key, state in states(site).items()}


def test_accepted_profile_on_an_evse_limits_that_evse_only() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 1, profile_16(5, 20.0), accepted=True),
    )
    assert csms_limits(site) == {"CP1/1": 20.0, "CP1/2": None}


def test_rejected_profile_is_ignored() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 1, profile_16(5, 10.0), accepted=False),
    )
    assert csms_limits(site) == {"CP1/1": None, "CP1/2": None}


def test_profile_on_evse_zero_limits_every_evse_unless_one_on_the_evse_replaces_it() -> None:
    # The same purpose and stack level: the EVSE's own profile wins over the one on EVSE 0,
    # whichever is lower (1.6 §3.13.2: it replaces it "only for that specific connector").
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 0, profile_16(6, 16.0), accepted=True),
        ev.ChargingProfileSet("CP1", 2, profile_16(7, 8.0), accepted=True),
    )
    assert csms_limits(site) == {"CP1/1": 16.0, "CP1/2": 8.0}
    site.handle(ev.ChargingProfileSet("CP1", 1, profile_16(5, 20.0), accepted=True))
    assert csms_limits(site) == {"CP1/1": 20.0, "CP1/2": 8.0}


def test_the_charger_maximum_caps_whatever_the_tx_profiles_allow() -> None:
    max_profile = profile_16(6, 12.0) | {"chargingProfilePurpose": "ChargePointMaxProfile"}
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 1, profile_16(5, 20.0), accepted=True),
        ev.ChargingProfileSet("CP1", 0, max_profile, accepted=True),
    )
    assert csms_limits(site) == {"CP1/1": 12.0, "CP1/2": 12.0}


def daily(profile_id: int, *periods: tuple[int, float]) -> dict[str, Any]:
    """A 1.6 recurring daily TxDefaultProfile starting at midnight of WALL_NOW's day."""
    return {
        "chargingProfileId": profile_id,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2026-03-01T00:00:00Z",
            "chargingSchedulePeriod": [
                {"startPeriod": start, "limit": limit} for start, limit in periods
            ],
        },
    }


def test_a_daily_pause_limits_only_during_its_hours() -> None:
    # 0 A from 17:00 to 19:00 every day, 32 A otherwise: at noon the session may draw 32 A.
    wall = WallClock()
    night = daily(5, (0, 32.0), (17 * 3600, 0.0), (19 * 3600, 32.0))
    site = feed(
        model(wall_clock=wall),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 0, night, accepted=True),
    )
    assert csms_limits(site)["CP1/1"] == 32.0
    wall.now = WALL_NOW + timedelta(hours=6)  # 18:00
    assert csms_limits(site)["CP1/1"] == 0.0
    wall.now = WALL_NOW + timedelta(days=1, hours=8)  # 20:00 the next day
    assert csms_limits(site)["CP1/1"] == 32.0


def test_a_profile_outside_its_validity_does_not_limit() -> None:
    wall = WallClock()
    later = profile_16(5, 8.0) | {"validFrom": "2026-03-02T13:00:00Z"}
    site = feed(
        model(wall_clock=wall),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 1, later, accepted=True),
    )
    assert csms_limits(site)["CP1/1"] is None
    wall.now = WALL_NOW + timedelta(hours=2)
    assert csms_limits(site)["CP1/1"] == 8.0


def test_a_higher_stack_level_overrides_a_lower_one_of_the_same_purpose() -> None:
    high = profile_16(6, 24.0) | {"stackLevel": 3}
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 0, profile_16(5, 10.0), accepted=True),
        ev.ChargingProfileSet("CP1", 0, high, accepted=True),
    )
    assert csms_limits(site)["CP1/1"] == 24.0


def test_a_csms_tx_profile_naming_its_id_limits_the_session_started_offline() -> None:
    # 1.6 under hold: the charger knows the session by the LC's provisional id (-3); once the
    # CSMS got it, it has its own id (1007) and names that in its TxProfile.
    tx = profile_16(5, 10.0) | {"chargingProfilePurpose": "TxProfile", "transactionId": 1007}
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        started("-3"),
        ev.TransactionIdMapped("CP1", "-3", "1007"),
        ev.ChargingProfileSet("CP1", 1, tx, accepted=True),
    )
    assert csms_limits(site)["CP1/1"] == 10.0


def test_watt_profile_is_converted_at_the_nominal_voltage() -> None:
    # 6900 W over 3 phases at 230 V = 10 A per phase
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V201),
        ev.ChargingProfileSet("CP1", 1, profile_201(5, (6900.0, 3)), accepted=True),
    )
    assert csms_limits(site)["CP1/1"] == pytest.approx(10.0)


def test_profile_with_the_same_id_replaces_the_earlier_one() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 1, profile_16(5, 10.0), accepted=True),
        ev.ChargingProfileSet("CP1", 1, profile_16(5, 24.0), accepted=True),
    )
    assert csms_limits(site)["CP1/1"] == 24.0


def test_profile_for_a_charger_never_seen_is_ignored() -> None:
    site = model()
    site.handle(ev.ChargingProfileSet("CP9", 1, profile_16(5, 10.0), accepted=True))
    assert site.chargers == {}


@pytest.mark.parametrize("criteria", [{"id": 5}, {"chargingProfileId": 5}])
def test_clearing_by_id_removes_only_that_profile(criteria: dict[str, Any]) -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 0, profile_16(5, 10.0), accepted=True),
        ev.ChargingProfileSet("CP1", 1, profile_16(6, 20.0), accepted=True),
        ev.ChargingProfileCleared("CP1", criteria, accepted=True),
    )
    assert csms_limits(site) == {"CP1/1": 20.0, "CP1/2": None}


def test_clearing_without_criteria_removes_every_profile() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 0, profile_16(5, 10.0), accepted=True),
        ev.ChargingProfileSet("CP1", 2, profile_16(6, 20.0), accepted=True),
        ev.ChargingProfileCleared("CP1", {}, accepted=True),
    )
    assert csms_limits(site) == {"CP1/1": None, "CP1/2": None}


def test_clearing_the_charger_refused_changes_nothing() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 0, profile_16(5, 10.0), accepted=True),
        ev.ChargingProfileCleared("CP1", {}, accepted=False),
    )
    assert csms_limits(site) == {"CP1/1": 10.0, "CP1/2": 10.0}


def test_clearing_by_purpose_keeps_profiles_of_other_purposes() -> None:
    max_profile = profile_16(5, 10.0) | {"chargingProfilePurpose": "ChargePointMaxProfile"}
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 0, max_profile, accepted=True),
        ev.ChargingProfileCleared("CP1", {"chargingProfilePurpose": "TxProfile"}, accepted=True),
    )
    assert csms_limits(site) == {"CP1/1": 10.0, "CP1/2": 10.0}


def test_tx_profile_of_the_csms_ends_with_its_transaction() -> None:
    tx = profile_16(5, 10.0) | {"chargingProfilePurpose": "TxProfile", "transactionId": 17}
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        started("17"),
        ev.ChargingProfileSet("CP1", 1, tx, accepted=True),
    )
    assert csms_limits(site)["CP1/1"] == 10.0
    site.handle(ev.TransactionEnded("CP1", "17", None, None, None))
    assert csms_limits(site)["CP1/1"] is None


def test_watt_period_without_phase_count_means_three_phases() -> None:
    profile = profile_16(1, 6900.0, unit="W")
    del profile["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"]
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 1, profile, accepted=True),
    )
    assert csms_limits(site)["CP1/1"] == pytest.approx(10.0)


def test_a_profile_the_rules_cannot_read_is_ignored() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V16),
        ev.ChargingProfileSet("CP1", 1, {"chargingProfileId": 5}, accepted=True),
    )
    assert csms_limits(site) == {"CP1/1": None, "CP1/2": None}


# -- site_reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("missing", [0, 1, 2])
def test_reading_with_a_phase_missing_is_no_reading(missing: int) -> None:
    currents: list[float | None] = [10.0, 11.0, 12.0]
    currents[missing] = None
    assert site_reading(tuple(currents), (230.0, 230.0, 230.0), 5.0) is None


def test_reading_uses_current_magnitudes() -> None:
    reading = site_reading((-10.0, 11.5, -0.2), None, 5.0)
    assert reading == MeterReading(currents=(10.0, 11.5, 0.2), read_at=5.0, voltages=None)


def test_reading_keeps_the_voltages_when_all_three_are_there() -> None:
    reading = site_reading((10.0, 11.0, 12.0), (229.0, 231.0, 232.5), 7.0)
    assert reading is not None
    assert reading.voltages == (229.0, 231.0, 232.5)
    assert reading.read_at == 7.0


@pytest.mark.parametrize("voltages", [None, (230.0, None, 230.0), (230.0, 0.0, 230.0)])
def test_reading_without_usable_voltages_falls_back_to_nominal(voltages: Any) -> None:
    reading = site_reading((10.0, 11.0, 12.0), voltages, 7.0)
    assert reading is not None
    assert reading.currents == (10.0, 11.0, 12.0)
    assert reading.voltages is None


def test_a_session_whose_energy_the_lc_suspended_gets_nothing_until_it_ends() -> None:
    """The CSMS refused the id after an outage and the charger keeps the transaction: the
    allocator must not hand it current (nor undo the LC's zero-limit profile)."""
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("-1"), status("Charging"))
    site.handle(ev.EnergySuspended("CP1", 1))
    assert csms_limits(site) == {"CP1/1": 0.0, "CP1/2": None}
    site.handle(ev.TransactionEnded("CP1", "-1", None, 500.0, "DeAuthorized"))
    site.handle(started("18"))
    assert csms_limits(site) == {"CP1/1": None, "CP1/2": None}


def test_a_new_session_on_a_suspended_evse_is_not_suspended() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("-1"))
    site.handle(ev.EnergySuspended("CP1", 1))
    site.handle(started("19"))  # the end of the refused one was not seen
    assert csms_limits(site)["CP1/1"] is None


# -- per-transaction priority (K03.FR.05/06) ----------------------------------------------------


def test_the_csms_priority_of_a_transaction_adds_to_the_chargers_until_it_ends() -> None:
    site = feed(
        model(),
        ev.ChargerConnected("CP1", V201),
        started("17"),
        ev.TransactionPrioritised("CP1", "17", None, 3),
    )
    assert states(site)["CP1/1"].priority == 5  # configured 2 + 3
    assert states(site)["CP1/2"].priority == 2  # another EVSE of the charger: its own
    feed(site, ev.TransactionPrioritised("CP1", "17", 1, 9))
    assert states(site)["CP1/1"].priority == 9  # held to the spec's range
    feed(site, ev.TransactionEnded("CP1", "17", 1, None, None), started("18"))
    assert states(site)["CP1/1"].priority == 2  # for that transaction only


def test_an_authorized_id_token_gives_its_priority_to_the_transaction_it_starts() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V201), ev.IdTokenPrioritised("CP1", "TAG", -4))
    feed(site, ev.TransactionStarted("CP1", "17", 1, "OTHER", 0.0))
    assert states(site)["CP1/1"].priority == 2
    feed(site, ev.TransactionStarted("CP1", "18", 2, "TAG", 0.0))
    assert states(site)["CP1/2"].priority == -2
    # Used once: the next transaction with that token starts at 0 again.
    feed(site, ev.TransactionEnded("CP1", "18", 2, None, None), started("19", evse=2))
    assert states(site)["CP1/2"].priority == 2


def test_a_charger_keeps_only_its_latest_authorized_tokens() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V201))
    for index in range(100):
        feed(site, ev.IdTokenPrioritised("CP1", f"T{index}", 1))
    tokens = site.chargers["CP1"].token_priorities
    assert 0 < len(tokens) <= 32 and "T99" in tokens and "T0" not in tokens


def test_a_session_seen_drawing_on_one_phase_is_a_one_phase_car_until_it_draws_on_more() -> None:
    site = feed(model(), ev.ChargerConnected("CP1", V16), started("17"))
    assert states(site)["CP1/1"].drawing_phase is None  # nothing seen yet: all its phases
    feed(site, sampled((0.0, 16.0, 0.1)), sampled((0.0, 0.0, 0.0)))  # drew on phase 2, paused
    assert states(site)["CP1/1"].drawing_phase == 2
    assert states(site)["CP1/1"].site_phases == (3,)  # CP1's rotation (2, 3, 1)
    feed(site, sampled((16.0, 16.0, 16.0)))
    assert states(site)["CP1/1"].drawing_phase is None
    feed(site, sampled((0.0, 16.0, 0.0)))  # once seen on three, it may use three again
    assert states(site)["CP1/1"].drawing_phase is None
    feed(site, ev.TransactionEnded("CP1", "17", 1, None, "Local"), started("18"))
    feed(site, sampled((16.0, None, None), tid="18"))  # the others unknown: not a 1-phase car
    assert states(site)["CP1/1"].drawing_phase is None
    feed(site, sampled((0.0, 16.0, 0.0), tid="18"))  # a new session is a new car
    assert states(site)["CP1/1"].drawing_phase == 2
