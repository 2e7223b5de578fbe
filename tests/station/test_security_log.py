"""The security log's core, sans-I/O: bound with its drop record, rate limit, filters,
what is owed to the CSMS, and the catalogue of the appendix."""

from __future__ import annotations

from ocpp_knowledge.security_events import SECURITY_EVENTS, is_critical
from station.security_log import CLEARED, EventRate, SecurityLog, from_json, to_json

NOW = 1_800_000_000.0


def test_the_appendix_catalogue_says_which_events_are_critical() -> None:
    assert len(SECURITY_EVENTS) == 21  # the appendix's 20, and the errata's
    assert is_critical("InvalidCsmsCertificate")
    assert is_critical("DiscardedRenewedClientCertificate")  # A02.FR.29: the CSMS must hear
    assert is_critical("StartupOfTheDevice")
    assert not is_critical("InvalidMessages")
    assert not is_critical("FailedToAuthenticateAtCsms")
    assert not is_critical("SomeVendorEvent")


def test_past_its_bound_the_oldest_tenth_goes_with_one_record_saying_so() -> None:
    log = SecurityLog(capacity=20, rate=EventRate(burst=1000))
    for n in range(20):
        log.record("InvalidMessages", f"frame {n}", NOW + n)
    assert [e.tech_info for e in log.events] == [f"frame {n}" for n in range(20)]
    kept = log.record("InvalidMessages", "frame 20", NOW + 20)
    assert [e.type for e in kept] == [CLEARED, "InvalidMessages"]
    assert kept[0].critical
    assert "2 oldest events dropped" in kept[0].tech_info
    assert len(log.events) == 20
    assert log.events[0].tech_info == "frame 2"
    assert [e.seq for e in log.events] == sorted(e.seq for e in log.events)


def test_dropped_critical_events_not_yet_sent_are_counted_in_the_drop_record() -> None:
    log = SecurityLog(capacity=10, rate=EventRate(burst=1000))
    log.record("StartupOfTheDevice", "", NOW)
    for n in range(10):
        log.record("InvalidMessages", str(n), NOW + n)
    cleared = next(e for e in log.events if e.type == CLEARED)
    assert "1 of them critical and not yet sent" in cleared.tech_info
    assert [e.type for e in log.unsent()] == [CLEARED]


def test_a_flood_of_one_type_is_counted_not_kept_and_the_next_kept_one_says_how_many() -> None:
    log = SecurityLog(rate=EventRate(burst=3, window_s=60))
    for n in range(100):
        log.record("InvalidChargingStationCertificate", f"attempt {n}", NOW + n * 0.1)
    log.record("ResetOrReboot", "another type is not held back", NOW + 11)
    assert len(log.events) == 4
    assert log.suppressed["InvalidChargingStationCertificate"] == 97
    kept = log.record("InvalidChargingStationCertificate", "later", NOW + 61)
    assert kept[-1].tech_info == "later (97 similar events suppressed before)"


def test_critical_events_are_owed_to_the_csms_until_delivered_in_order() -> None:
    log = SecurityLog()
    log.record("StartupOfTheDevice", "", NOW)
    log.record("InvalidMessages", "not critical", NOW + 1)
    log.record("SettingSystemTime", "+3600 s", NOW + 2)
    assert [e.type for e in log.unsent()] == ["StartupOfTheDevice", "SettingSystemTime"]
    log.delivered(log.unsent()[0].seq)
    assert [e.type for e in log.unsent()] == ["SettingSystemTime"]


def test_between_filters_by_time_both_ends_included() -> None:
    log = SecurityLog()
    for n in range(5):
        log.record("InvalidMessages", str(n), NOW + n * 10)
    assert [e.tech_info for e in log.between(NOW + 10, NOW + 30)] == ["1", "2", "3"]
    assert [e.tech_info for e in log.between(None, NOW + 5)] == ["0"]
    assert [e.tech_info for e in log.between(NOW + 35, None)] == ["4"]


def test_the_stored_form_reads_back_and_numbering_goes_on() -> None:
    log = SecurityLog()
    log.record("StartupOfTheDevice", "v1", NOW)
    log.delivered(log.events[0].seq)
    log.record("MemoryExhaustion", "journal", NOW + 1)
    stored = to_json(log.events)
    again = SecurityLog(events=from_json([*stored, {"seq": "not a number"}, 3]))
    assert again.events == log.events
    assert [e.type for e in again.unsent()] == ["MemoryExhaustion"]
    (new,) = again.record("ResetOrReboot", "", NOW + 2)
    assert new.seq == log.events[-1].seq + 1
