"""The charger state behind the OCPP handlers: profiles in, composite schedule out (no I/O)."""

from garage.evse import Car, Evse
from garage.profile_store import SmartChargingCapabilities
from garage.station import Station
from ocpp_knowledge.profiles import RateUnit, Transaction
from tests.garage.profiles import NOW, schedule, v16


def charging_station() -> Station:
    station = Station(
        version="1.6",
        evse=Evse(hardware_max_current_a=16.0, reaction_delay_s=0.0),
        capabilities=SmartChargingCapabilities(),
        smart_charging=True,
        clock=lambda: NOW,
    )
    station.plug(Car(32.0, phases=3))
    station.begin(Transaction(1, NOW))
    return station


def test_composite_schedule_is_capped_by_hardware_and_rounded_down_to_a_tenth() -> None:
    station = charging_station()
    power = schedule((0, 7000.0), (60, 20000.0), unit="W", start=NOW, duration_s=120)
    assert station.install(v16(1, 0, "TxDefaultProfile", power))
    amperes = station.composite_schedule(300, RateUnit.AMPERE)
    # 7000 W / (230 V x 3) = 10.14 A; 20000 W would be 28.99 A, above the 16 A hardware, which
    # also stands after the profile ends.
    assert amperes.periods == ((0, 10.1), (60, 16.0))
    watts = station.composite_schedule(300, RateUnit.WATT)
    assert watts.periods == ((0, 7000.0), (60, 11040.0))
    assert (watts.start, watts.duration_s, watts.number_phases) == (NOW, 300, 3)


def test_meter_sample_reports_the_draw() -> None:
    station = charging_station()
    sample = station.meter_sample()
    assert sample.currents == (16.0, 16.0, 16.0)
    assert sample.power_w == 230.0 * 48
    assert sample.taken_at == NOW


def test_rejections_are_kept_with_their_reason() -> None:
    station = charging_station()
    assert not station.install(v16(1, 0, "TxProfile", schedule((0, 8.0)), transaction_id=2))
    assert station.rejections == ["transaction 2 is not running"]
    assert station.profiles == ()
