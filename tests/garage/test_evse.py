"""The EVSE model: what the car draws, and how late it follows its limit (fixed times, no I/O)."""

from datetime import timedelta

import pytest

from garage.evse import Car, Evse, Situation
from ocpp_knowledge.profiles import ChargingProfile, Transaction
from tests.garage.profiles import NOW, ago, schedule, v16

TX = Transaction(transaction_id=1, started_at=NOW)
CAR = Car(max_current_a=32.0, phases=3)


def later(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def limit(amps: float) -> ChargingProfile:
    return v16(1, 0, "TxDefaultProfile", schedule((0, amps), start=ago(60)))


def charging(evse: Evse, *profiles: ChargingProfile) -> None:
    """From NOW on, the car is plugged in and charging under `profiles`."""
    evse.change(Situation(profiles=profiles, transaction=TX, car=CAR), NOW)


def test_draw_follows_a_limit_change_only_after_the_reaction_delay() -> None:
    evse = Evse(reaction_delay_s=2.0)
    charging(evse, limit(16.0))
    assert evse.draw_a(NOW + later(1.9)) == 0.0  # the car has not started yet
    assert evse.draw_a(NOW + later(2.0)) == 16.0
    evse.change(Situation((limit(10.0),), TX, CAR), NOW + later(5))
    assert evse.draw_a(NOW + later(6.9)) == 16.0
    assert evse.draw_a(NOW + later(7.0)) == 10.0


def test_schedule_expiry_is_followed_late_too() -> None:
    evse = Evse(reaction_delay_s=2.0)
    short = v16(2, 1, "TxDefaultProfile", schedule((0, 8.0), start=NOW, duration_s=10))
    charging(evse, limit(16.0), short)
    assert evse.limit_a(NOW + later(10)) == 16.0
    assert evse.draw_a(NOW + later(11)) == 8.0
    assert evse.draw_a(NOW + later(12)) == 16.0


@pytest.mark.parametrize(("amps", "expected"), [(5.9, 0.0), (6.0, 6.0), (40.0, 32.0)])
def test_offer_is_zero_below_six_amperes_and_capped_by_car(amps: float, expected: float) -> None:
    evse = Evse(reaction_delay_s=0.0)
    charging(evse, limit(amps))
    assert evse.draw_a(NOW) == expected


def test_hardware_maximum_caps_the_offer() -> None:
    evse = Evse(reaction_delay_s=0.0, hardware_max_current_a=16.0)
    charging(evse)
    assert evse.draw_a(NOW) == 16.0


def test_disobedient_charger_keeps_drawing_its_maximum() -> None:
    evse = Evse(reaction_delay_s=0.0, obeys_profiles=False)
    charging(evse, limit(0.0))
    assert evse.limit_a(NOW) == 0.0
    assert evse.draw_a(NOW) == 32.0


def test_car_takes_a_fraction_of_the_offer() -> None:
    evse = Evse(reaction_delay_s=0.0, draw_fraction=0.95)
    charging(evse, limit(20.0))
    assert evse.draw_a(NOW) == pytest.approx(19.0)


def test_no_current_without_transaction() -> None:
    evse = Evse(reaction_delay_s=0.0)
    evse.change(Situation(transaction=None, car=CAR), NOW)
    assert evse.draw_a(NOW + later(5)) == 0.0


def test_one_phase_car_draws_on_charger_phase_one() -> None:
    evse = Evse(reaction_delay_s=0.0)
    evse.change(Situation((limit(16.0),), TX, Car(32.0, phases=1)), NOW)
    assert evse.phase_currents(NOW) == (16.0, 0.0, 0.0)


def test_unplugging_stops_the_current_at_once() -> None:
    evse = Evse(reaction_delay_s=2.0)
    charging(evse)
    assert evse.phase_currents(NOW + later(3)) == (32.0, 32.0, 32.0)
    evse.change(Situation(), NOW + later(4))
    assert evse.phase_currents(NOW + later(4)) == (0.0, 0.0, 0.0)


def test_energy_register_integrates_power() -> None:
    evse = Evse(reaction_delay_s=0.0)
    charging(evse, limit(16.0))
    for minute in range(61):
        evse.phase_currents(NOW + later(60 * minute))
    assert evse.energy_wh(NOW + later(3600)) == pytest.approx(230 * 16 * 3)
    evse.change(Situation(), NOW + later(3600))
    assert evse.energy_wh(NOW + later(7200)) == pytest.approx(230 * 16 * 3)


def test_draw_fraction_must_be_a_share() -> None:
    with pytest.raises(ValueError, match="draw_fraction"):
        Evse(draw_fraction=1.2)
