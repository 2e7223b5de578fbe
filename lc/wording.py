"""What the status page says, in words a site manager understands: what a car does, why its
limit is what it is, what a connector is doing. Pure functions of what the LC knows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from balancer.allocate import Mode, PauseReason

# Within this of a bound, a limit is "at" it (limits are sent with 0.1 A resolution).
_AT_A = 0.05

# OCPP connector states (1.6 status, 2.0.1 connector status) as a person would say them.
_CONNECTOR_WORDS = {
    "Available": "free",
    "Occupied": "car plugged in",
    "Preparing": "car plugged in",
    "Charging": "charging",
    "SuspendedEV": "car not drawing",
    "SuspendedEVSE": "paused by the charger",
    "Finishing": "finishing",
    "Reserved": "reserved",
    "Unavailable": "out of service",
    "Faulted": "fault",
}


def connector_words(status: str) -> str:
    return _CONNECTOR_WORDS.get(status, status)


def connectors_in_words(statuses: Mapping[tuple[int, int | None], str]) -> str:
    """`{(evse, connector): status}` as "connector 1: charging; connector 2: free"."""
    parts = []
    for (evse, connector), status in sorted(
        statuses.items(), key=lambda item: (item[0][0], item[0][1] or 0)
    ):
        if evse == 0:
            name = "whole charger"
        elif connector is None or connector == 1:
            name = f"connector {evse}"
        else:
            name = f"connector {evse} plug {connector}"
        parts.append(f"{name}: {connector_words(status)}")
    return "; ".join(parts)


_PAUSE_WORDS = {
    PauseReason.NO_CAPACITY: "no capacity",
    PauseReason.OVERLOAD: "site overload",
    PauseReason.LIMIT_BELOW_MIN: "CSMS limit",
    PauseReason.SAFE_CURRENT_ZERO: "meter lost",
}


def pause_words(reason: str) -> str:
    """A pause reason (`PauseReason` value) as the status page names it."""
    try:
        return _PAUSE_WORDS[PauseReason(reason)]
    except ValueError:
        return reason.replace("_", " ")


@dataclass(frozen=True, slots=True)
class LimitFacts:
    """What decides one EVSE's limit, as the load balancer saw it in its last period."""

    limit_a: float | None  # in force on the charger; None: none sent yet
    paused: PauseReason | None
    mode: Mode | None  # None before the first period
    obeys: bool
    max_a: float  # the charger's maximum
    min_a: float
    safe_a: float  # what it gets while the meter is lost
    csms_limit_a: float | None
    rotation_period_s: float
    set_up: bool = True  # False: the LC is still reading its capabilities, installing its floor


def limit_reason(facts: LimitFacts) -> str:
    """One line: why this EVSE's limit is what it is."""
    if not facts.obeys:
        if not facts.set_up:
            return f"being set up: planned at its maximum {facts.max_a:g} A until then"
        return f"ignores its limit: planned at its maximum {facts.max_a:g} A"
    if facts.paused is PauseReason.NO_CAPACITY:
        turn = _minutes(facts.rotation_period_s)
        return (
            f"no room for {facts.min_a:g} A under the cap: higher priority first, "
            f"then turns every {turn}"
        )
    if facts.paused is PauseReason.OVERLOAD:
        return "the building alone is above the cap on a phase this car uses"
    if facts.paused is PauseReason.LIMIT_BELOW_MIN:
        csms = "" if facts.csms_limit_a is None else f" ({facts.csms_limit_a:g} A)"
        return f"the CSMS limit{csms} is below the car's minimum {facts.min_a:g} A"
    if facts.paused is PauseReason.SAFE_CURRENT_ZERO:
        return "meter lost: this charger's safe current is 0 A"
    if facts.limit_a is None:
        return "no limit sent yet"
    if facts.limit_a < _AT_A:
        # Not paused, yet 0 A in force: a new limit is on its way (a turn, a resume).
        return "waiting for its limit: the charger still has 0 A"
    if facts.mode is Mode.SAFE:
        return f"meter lost: its safe current {facts.safe_a:g} A"
    if facts.csms_limit_a is not None and facts.limit_a >= facts.csms_limit_a - _AT_A:
        return f"the CSMS limits it to {facts.csms_limit_a:g} A"
    if facts.limit_a >= facts.max_a - _AT_A:
        return f"its maximum ({facts.max_a:g} A): there is room for it"
    return "its fair share of the room under the cap"


def car_activity(
    state: str | None, limit_a: float | None, paused: str | None, drawn_a: float | None
) -> str:
    """What the car does now, from the charger's state (2.0.1 chargingState or 1.6 connector
    status), the LC's pause and the current it draws."""
    if paused is not None:
        return f"paused: {pause_words(paused)}"
    drawing = drawn_a is not None and drawn_a >= 1.0
    if limit_a is not None and limit_a < _AT_A and not drawing:
        return "waiting for its limit"  # not paused: a limit above 0 A is on its way
    if state == "Charging" or drawing:
        at = drawn_a if drawn_a is not None else limit_a
        return "charging" if at is None else f"charging at {at:.1f} A"
    if state in ("SuspendedEV", "EVConnected", "Preparing", "Occupied"):
        return "waiting for the car"
    if state == "SuspendedEVSE":
        return "paused by the charger"
    if state in ("Finishing", "Idle", "Available"):
        return "finished: car still plugged in" if state == "Finishing" else "no car"
    return "waiting for the car" if state is None else connector_words(state)


def _minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} min"


# A charger's firmware and log transfer states (1.6 and 2.0.1), as a person would say them.
_TRANSFER_WORDS = {
    "Accepted": "accepted, not started yet",
    "DownloadScheduled": "download scheduled",
    "Downloading": "downloading",
    "DownloadPaused": "download paused",
    "Downloaded": "downloaded",
    "SignatureVerified": "signature verified",
    "InstallScheduled": "installation scheduled",
    "Installing": "installing",
    "InstallRebooting": "rebooting to install",
    "Installed": "installed",
    "Uploading": "uploading",
    "Uploaded": "uploaded",
    "NothingToUpload": "nothing to upload",
}


def transfer_words(state: str) -> str:
    """A transfer's state in words; a failure keeps the charger's own word for it."""
    return _TRANSFER_WORDS.get(state, state)


def location_without_credentials(location: str) -> str:
    """The URL without a user or password in it (ftp://user:secret@host/ is common)."""
    parts = urlsplit(location)
    if parts.username is None and parts.password is None:
        return location
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit(parts._replace(netloc=netloc))
