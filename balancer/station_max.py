"""Moving a charger's limits to its charger maximum profile (pure).

A charger with one EVSE that refuses Tx profiles is limited through its charger maximum
instead (balancer/profiles.py says how). `StationMaxSwitch` walks the steps for one charger:
the asyncio layer makes each call it asks for and feeds back how the charger answered.

- `clear_floor`: its TxDefaultProfile floor was accepted and must go first, as it would hold the
  charger at its safe current (the composite is the minimum over purposes). A clear that gets
  no answer ends the switch; any answer will do (Unknown: the floor was not there).
- Then the floor as its charger maximum. Accepted: switched. Otherwise the switch failed, and
  a charger whose floor was cleared gets that floor back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from balancer.profiles import ProfileTarget, as_station_max


class Answer(Enum):
    """How a charger answered one of the LC's SetChargingProfile calls."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    ERROR = "a CALLERROR"
    NONE = "no answer in time, or the charger is gone"


@dataclass(frozen=True, slots=True)
class ClearProfile:
    """Send ClearChargingProfile for this profile id; feed back whether it was answered."""

    profile_id: int


@dataclass(frozen=True, slots=True)
class SendProfile:
    """Send SetChargingProfile for this target; feed back the `Answer`."""

    target: ProfileTarget


@dataclass(frozen=True, slots=True)
class Switched:
    """The end: `done` when the charger is limited through its charger maximum now."""

    done: bool


SwitchStep = ClearProfile | SendProfile | Switched


class StationMaxSwitch:
    def __init__(self, floor: ProfileTarget, clear_floor: bool) -> None:
        """`floor`: the charger's TxDefaultProfile floor, as installed or refused."""
        self._floor = floor
        self._clear_floor = clear_floor
        self._restoring = False

    def start(self) -> SwitchStep:
        if self._clear_floor:
            return ClearProfile(self._floor.profile_id)
        return SendProfile(as_station_max(self._floor))

    def cleared(self, answered: bool) -> SwitchStep:
        """The charger's answer to the ClearProfile step."""
        return SendProfile(as_station_max(self._floor)) if answered else Switched(done=False)

    def sent(self, answer: Answer) -> SwitchStep:
        """The charger's answer to a SendProfile step."""
        if self._restoring:
            return Switched(done=False)
        if answer is Answer.ACCEPTED:
            return Switched(done=True)
        if self._clear_floor:
            self._restoring = True
            return SendProfile(self._floor)  # back to the floor it had
        return Switched(done=False)
