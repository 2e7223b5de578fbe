"""SetChargingProfile / ClearChargingProfile rules of the simulated charger (no I/O)."""

import pytest

from garage.profile_store import ChargePointVersion, ProfileStore, SmartChargingCapabilities
from ocpp_knowledge.profiles import ChargingProfile, Purpose, RateUnit, Transaction
from tests.garage.profiles import ago, schedule, v16, v201

TX16 = Transaction(transaction_id=7, started_at=ago(60))
TX201 = Transaction(transaction_id="tx-a", started_at=ago(60))
SCHEDULE = schedule((0, 16.0), start=ago(10))


def store(
    version: ChargePointVersion = "1.6", capabilities: SmartChargingCapabilities | None = None
) -> ProfileStore:
    return ProfileStore(version, capabilities or SmartChargingCapabilities())


def ids(profile_store: ProfileStore) -> list[int]:
    return sorted(p.profile_id for p in profile_store.profiles)


def test_same_id_replaces_in_both_versions() -> None:
    for profiles, make in ((store("1.6"), v16), (store("2.0.1"), v201)):
        assert profiles.install(make(1, 0, "TxDefaultProfile", SCHEDULE), None) is None
        assert profiles.install(make(1, 3, "TxDefaultProfile", SCHEDULE), None) is None
        assert [p.stack_level for p in profiles.profiles] == [3]


def test_v16_same_stack_level_and_purpose_on_a_connector_replaces() -> None:
    profiles = store("1.6")
    assert profiles.install(v16(1, 2, "TxDefaultProfile", SCHEDULE), None) is None
    assert profiles.install(v16(2, 2, "TxDefaultProfile", SCHEDULE, connector_id=0), None) is None
    assert profiles.install(v16(3, 2, "TxDefaultProfile", SCHEDULE), None) is None
    assert ids(profiles) == [2, 3]


def test_v201_same_stack_level_and_purpose_with_another_id_is_rejected() -> None:
    profiles = store("2.0.1")
    assert profiles.install(v201(1, 2, "TxDefaultProfile", SCHEDULE), None) is None
    assert profiles.install(v201(2, 2, "TxDefaultProfile", SCHEDULE), None) is not None
    assert ids(profiles) == [1]


def test_tx_profile_needs_a_running_transaction_on_a_connector() -> None:
    profiles = store("1.6")
    assert profiles.install(v16(1, 0, "TxProfile", SCHEDULE), None) is not None
    assert profiles.install(v16(1, 0, "TxProfile", SCHEDULE, transaction_id=8), TX16) is not None
    assert profiles.install(v16(1, 0, "TxProfile", SCHEDULE, connector_id=0), TX16) is not None
    assert profiles.install(v16(1, 0, "TxProfile", SCHEDULE), TX16) is None
    assert profiles.install(v16(2, 1, "TxProfile", SCHEDULE, transaction_id=7), TX16) is None
    profiles.end_transaction()
    assert profiles.profiles == ()


def test_charger_maximum_only_on_connector_zero() -> None:
    profiles = store("1.6")
    assert profiles.install(v16(1, 0, "ChargePointMaxProfile", SCHEDULE), None) is not None
    assert (
        profiles.install(v16(1, 0, "ChargePointMaxProfile", SCHEDULE, connector_id=0), None) is None
    )


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (v16(1, 11, "TxDefaultProfile", SCHEDULE), "stack level 11"),
        (
            v16(1, 0, "TxDefaultProfile", schedule(*((s, 16.0) for s in range(0, 25 * 60, 60)))),
            "25 periods",
        ),
        (v16(1, 0, "TxDefaultProfile", schedule((0, 11000.0), unit="W")), "rate unit W"),
        (v16(1, 0, "TxDefaultProfile", SCHEDULE, connector_id=2), "no connector 2"),
        (
            v16(1, 0, "TxDefaultProfile", schedule((0, 16.0)), kind="Recurring"),
            "needs startSchedule",
        ),
    ],
)
def test_outside_capabilities_is_rejected(profile: ChargingProfile, reason: str) -> None:
    profiles = store("1.6", SmartChargingCapabilities(rate_units=(RateUnit.AMPERE,)))
    assert reason in (profiles.install(profile, None) or "")
    assert profiles.profiles == ()


def test_purposes_outside_the_capabilities_are_rejected() -> None:
    profiles = store("2.0.1", SmartChargingCapabilities(purposes=(Purpose.STATION_MAX,)))
    rejection = profiles.install(v201(1, 0, "TxDefaultProfile", SCHEDULE), None)
    assert rejection == "tx default profiles not supported"
    tx = v201(2, 1, "TxProfile", SCHEDULE, transaction_id="tx-a")
    assert profiles.install(tx, TX201) == "tx profiles not supported"
    station_max = v201(3, 0, "ChargingStationMaxProfile", SCHEDULE, evse_id=0)
    assert profiles.install(station_max, TX201) is None
    assert ids(profiles) == [3]


def test_max_profiles_installed() -> None:
    profiles = store("1.6", SmartChargingCapabilities(max_profiles=2))
    assert profiles.install(v16(1, 0, "TxDefaultProfile", SCHEDULE), None) is None
    assert profiles.install(v16(2, 1, "TxDefaultProfile", SCHEDULE), None) is None
    assert profiles.install(v16(3, 2, "TxDefaultProfile", SCHEDULE), None) is not None
    assert profiles.install(v16(3, 1, "TxDefaultProfile", SCHEDULE), None) is None  # replaces 2
    assert ids(profiles) == [1, 3]


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (v201(1, 0, "TxProfile", SCHEDULE), "needs a transactionId"),
        (
            v201(1, 0, "TxDefaultProfile", SCHEDULE, transaction_id="tx-a"),
            "only a TxProfile has a transactionId",
        ),
        (
            v201(
                1, 0, "ChargingStationMaxProfile", schedule((0, 16.0)), evse_id=0, kind="Relative"
            ),
            "cannot be Relative",
        ),
        (v201(1, 0, "TxDefaultProfile", SCHEDULE, kind="Relative"), "Relative profile has no"),
        (v201(1, 0, "TxDefaultProfile", schedule((0, 16.0))), "Absolute profile needs"),
        (
            v201(1, 0, "ChargingStationExternalConstraints", SCHEDULE, evse_id=0),
            "not set by the CSMS",
        ),
    ],
)
def test_v201_specific_rejections(profile: ChargingProfile, reason: str) -> None:
    assert reason in (store("2.0.1").install(profile, TX201) or "")


def test_v16_accepts_what_v201_rejects() -> None:
    profiles = store("1.6")
    assert profiles.install(v16(1, 0, "TxDefaultProfile", schedule((0, 16.0))), None) is None
    assert profiles.install(v16(2, 0, "TxProfile", SCHEDULE), TX16) is None


def test_clear_by_id_or_by_criteria() -> None:
    profiles = store("1.6")
    for profile in (
        v16(1, 0, "ChargePointMaxProfile", SCHEDULE, connector_id=0),
        v16(2, 0, "TxDefaultProfile", SCHEDULE, connector_id=0),
        v16(3, 1, "TxDefaultProfile", SCHEDULE),
        v16(4, 2, "TxDefaultProfile", SCHEDULE),
    ):
        assert profiles.install(profile, None) is None
    assert profiles.clear(profile_id=9) == 0
    assert profiles.clear(profile_id=4, purpose=Purpose.STATION_MAX) == 1  # the id decides
    assert profiles.clear(purpose=Purpose.TX_DEFAULT, connector_id=0) == 1
    assert ids(profiles) == [1, 3]
    assert profiles.clear(stack_level=1) == 1
    assert profiles.clear() == 1
    assert profiles.profiles == ()
