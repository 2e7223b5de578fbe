"""The network connection profiles of the LC's own link to the CSMS (2.0.1 B09/B10), pure.

Slot 1 is the `[station]` table's connection (`csms_url` and its security): the config file
is its source, so the CSMS cannot overwrite it. Slots 2 and 3 are the CSMS's: SetNetworkProfile
stores a profile in one of them; `OCPPCommCtrlr.NetworkConfigurationPriority` (a SetVariables
of slots, first one first) says which ones the LC dials and in what order, and
`NetworkProfileConnectionAttempts` how often each before the next (`station.dial_plan`). All
of it, and the slot the LC last connected with, is kept across restarts in a private file.

The security profile only goes up over OCPP (A00.FR.005; the LC implements no
AllowSecurityProfileDowngrade): the highest one the LC connected with is its floor, kept in the
same file. Connecting with a higher one drops the slots below it from the priority, and the
CSMS's of them altogether (A05.FR.06); a profile or a priority below it is Rejected
(B09.FR.04, A05.FR.10). Only the site manager lowers it, by changing slot 1 in the config
file: that clears the floor and puts slot 1 first again (the later change wins).

A profile's `ocppCsmsUrl` is the CSMS's address without the LC's identity: the LC appends it,
as a charging station does (Part 4 §3.1).

A 1.6 CSMS has no slots to set; it raises the security profile of slot 1 instead (the 1.6
security whitepaper's A05, `station.security_profile` decides). The raise is tried at once
and kept from the first connection with it; a raise that does not connect within
`attempts` dials is given up (A05.FR.08). A raise to 2 or 3 dials a `ws://` address as
`wss://` (same host, port and path). It stays until the site manager changes slot 1 in the
config file (the later change wins).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from config_file.private_file import write_private
from ocpp_knowledge.status_info import rejected
from station.security_profile import Prerequisites, missing

log = logging.getLogger(__name__)

CONFIGURED_SLOT = 1
SLOTS = (1, 2, 3)  # B09.FR.06: at least two
DEFAULT_CONNECTION_ATTEMPTS = 3
_SCHEMES = {1: "ws", 2: "wss", 3: "wss"}  # by security profile (A00: 1 has no TLS)


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    url: str  # what the LC dials: the CSMS's URL with the LC's identity
    security_profile: int
    message_timeout_s: float
    ocpp_interface: str = "Wired0"


class InvalidProfile(ValueError):
    """A SetNetworkProfile the LC refuses; `reason` is the statusInfo reasonCode."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the LC can present to a CSMS: what a security profile needs."""

    password: bool  # BasicAuthPassword, for security profiles 1 and 2
    client_certificate: bool  # a charging-station certificate, for profile 3


def network_profiles_path(state_path: Path) -> Path:
    """Where the profiles are kept: beside the station state file."""
    return state_path.with_name(state_path.stem + "-network-profiles.json")


def security_profile_of(url: str, password: bool) -> int:
    """The security profile a connection has: no TLS 1, TLS with a password 2, TLS with the
    LC's client certificate 3."""
    if not url.startswith("wss://"):
        return 1
    return 2 if password else 3


def with_security(profile: NetworkProfile, level: int) -> NetworkProfile:
    """`profile` dialled with security profile `level` (2 and 3: over TLS)."""
    if level < 2:
        return replace(profile, security_profile=level)
    url = urlunsplit(urlsplit(profile.url)._replace(scheme=_SCHEMES[level]))
    return replace(profile, url=url, security_profile=level)


def _fingerprint(profile: NetworkProfile) -> str:
    """What a raise keeps of the configured slot it raised: enough to see that it changed."""
    return f"{profile.security_profile} {profile.url}"


def profile_from_request(
    payload: dict[str, Any], identity: str, active_security_profile: int, can: Capabilities
) -> tuple[int, NetworkProfile]:
    """The slot and profile of a (schema-valid) SetNetworkProfileRequest; InvalidProfile
    when the LC must reject it (B09.FR.02/04/05)."""
    slot = payload["configurationSlot"]
    if slot not in SLOTS or slot == CONFIGURED_SLOT:
        raise InvalidProfile(
            "InvalidConfSlot", f"slot {slot}: the CSMS's slots are {SLOTS[1:]} (1 is the config's)"
        )
    data = payload["connectionData"]
    if data["ocppVersion"] != "OCPP20" or data["ocppTransport"] != "JSON":
        raise InvalidProfile("InvalidNetworkConf", "the LC's own link speaks OCPP 2.0.1 JSON only")
    if "vpn" in data or "apn" in data:
        raise InvalidProfile("InvalidNetworkConf", "the LC sets up no VPN or APN itself")
    security = data["securityProfile"]
    if security not in _SCHEMES:
        raise InvalidProfile("InvalidNetworkConf", f"no security profile {security}")
    if security < active_security_profile:
        raise InvalidProfile(
            "NoSecurityDowngrade",
            f"profile {security} is below the active {active_security_profile}",
        )
    if security == 2 and not can.password:
        raise InvalidProfile("InvalidNetworkConf", "profile 2 needs [station] password")
    if security == 3 and not can.client_certificate:
        raise InvalidProfile("InvalidNetworkConf", "profile 3 needs the LC's client certificate")
    url = data["ocppCsmsUrl"]
    parts = urlsplit(url)
    if (
        parts.scheme != _SCHEMES[security]
        or not parts.hostname
        or parts.username is not None  # credentials go in the Authorization header only
        or parts.query
        or parts.fragment
    ):
        raise InvalidProfile(
            "InvalidNetworkConf",
            f"ocppCsmsUrl must be {_SCHEMES[security]}://host[:port][/path] for profile {security}",
        )
    try:
        _ = parts.port  # raises for a port out of range
    except ValueError as exc:
        raise InvalidProfile("InvalidNetworkConf", f"ocppCsmsUrl: {exc}") from exc
    timeout = data["messageTimeout"]
    if timeout < 1:
        raise InvalidProfile("InvalidNetworkConf", "messageTimeout must be at least 1 s")
    profile = NetworkProfile(
        f"{url.rstrip('/')}/{identity}", security, float(timeout), data["ocppInterface"]
    )
    return slot, profile


def parse_priority(text: str, stored: set[int]) -> list[int]:
    """A NetworkConfigurationPriority value: slots with a profile, each once, comma-separated;
    ValueError for anything else (B10.FR.02)."""
    try:
        slots = [int(part) for part in text.split(",")]
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a list of slots") from exc
    if not slots or len(set(slots)) != len(slots) or not set(slots) <= stored:
        raise ValueError(f"{text!r}: each slot once, of {sorted(stored)}")
    return slots


def _security_record(level: int | None, configured: NetworkProfile) -> dict[str, Any] | None:
    """How a security profile the LC reached is kept: with what slot 1 was then."""
    if level is None:
        return None
    return {"security_profile": level, "of": _fingerprint(configured)}


def _kept_level(record: dict[str, Any] | None, configured: NetworkProfile) -> int | None:
    """A kept security profile, unless slot 1 changed in the config file since (None)."""
    if record is None or record["of"] != _fingerprint(configured):
        return None
    return int(record["security_profile"])


class NetworkProfiles:
    def __init__(
        self,
        path: Path,
        configured: NetworkProfile,
        identity: str,
        can: Capabilities,
        default_attempts: int = DEFAULT_CONNECTION_ATTEMPTS,
    ) -> None:
        self.path = path
        self._identity = identity
        self._can = can
        self._slots: dict[int, NetworkProfile] = {CONFIGURED_SLOT: configured}
        self.priority = [CONFIGURED_SLOT]
        self.attempts = default_attempts
        self.last_connected: int | None = None
        self._raised: int | None = None  # slot 1's security profile, raised by a 1.6 CSMS
        self._floor: int | None = None  # the highest security profile connected with
        self._trying: int | None = None  # a raise not connected with yet
        self._trying_failures = 0
        self._load()

    @property
    def can(self) -> Capabilities:
        return self._can

    def profile(self, slot: int) -> NetworkProfile:
        """What to dial for `slot`."""
        if slot == CONFIGURED_SLOT and self._trying is not None:
            return with_security(self._slots[slot], self._trying)
        return self._kept(slot)

    @property
    def active(self) -> NetworkProfile:
        """The profile of the connection now (or the last one): its security is the floor."""
        return self._kept(self.last_connected or CONFIGURED_SLOT)

    @property
    def floor(self) -> int:
        """The security profile in use, which the LC never dials below: the highest one it
        connected with (A05.FR.06/07), or before any, the active profile's."""
        return max(self._floor or 0, self.active.security_profile)

    def priority_from(self, text: str, have: Prerequisites) -> list[int]:
        """A NetworkConfigurationPriority the CSMS sets, checked; ValueError for one naming a
        slot without a profile (B10.FR.02), below the floor (A05.FR.10), or above it without
        what that profile needs (A05.FR.02/03)."""
        slots = parse_priority(text, self.stored)
        below = [slot for slot in slots if self._kept(slot).security_profile < self.floor]
        if below:
            raise ValueError(f"slots {below} are below security profile {self.floor} in use")
        for slot in slots:
            level = self._kept(slot).security_profile
            lacking = missing(level, have) if level > self.floor else None
            if lacking is not None:
                raise ValueError(f"slot {slot}: {lacking}")
        return slots

    @property
    def wanted_security(self) -> int:
        """The security profile the LC is on or moving to: a 1.6 raise must go above it."""
        return max(self.active.security_profile, self.profile(CONFIGURED_SLOT).security_profile)

    def raise_security(self, level: int) -> None:
        """Dial slot 1 with security profile `level` from now on (a 1.6 CSMS's A05 raise,
        already checked); kept once the LC connected with it."""
        self._trying, self._trying_failures = level, 0

    def dial_failed(self, slot: int) -> None:
        if slot != CONFIGURED_SLOT or self._trying is None:
            return
        self._trying_failures += 1
        if self._trying_failures >= self.attempts:
            # A05.FR.08: back to the profile before, which the CSMS still accepts.
            log.warning(
                "security profile %d not reached in %d dials: back to %d",
                self._trying,
                self._trying_failures,
                self._kept(slot).security_profile,
            )
            self._trying = None

    def _kept(self, slot: int) -> NetworkProfile:
        profile = self._slots[slot]
        if slot == CONFIGURED_SLOT and self._raised is not None:
            return with_security(profile, self._raised)
        return profile

    def set_network_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A SetNetworkProfileRequest payload in, the response payload out (B09). The new
        profile is used once NetworkConfigurationPriority names its slot."""
        try:
            slot, profile = profile_from_request(payload, self._identity, self.floor, self._can)
        except InvalidProfile as exc:
            log.warning("SetNetworkProfile rejected: %s", exc)
            return rejected(exc.reason, str(exc))
        try:
            self.store(slot, profile)
        except OSError as exc:
            log.error("network profile slot %d not stored: %s", slot, exc.strerror)
            return {"status": "Failed"}  # B09.FR.03
        log.info(
            "network profile slot %d: %s (security profile %d)",
            slot,
            profile.url,
            profile.security_profile,
        )
        return {"status": "Accepted"}

    @property
    def stored(self) -> set[int]:
        return set(self._slots)

    def store(self, slot: int, profile: NetworkProfile) -> None:
        self._slots[slot] = profile
        self._save()

    def set_priority(self, slots: list[int]) -> None:
        self.priority = slots
        self._save()

    def set_attempts(self, attempts: int) -> None:
        self.attempts = attempts
        self._save()

    def connected_with(self, slot: int) -> None:
        raise_reached = slot == CONFIGURED_SLOT and self._trying is not None
        if raise_reached:
            self._raised, self._trying = self._trying, None  # for good: never lower (A05)
        level = self._kept(slot).security_profile
        floor_raised = level > (self._floor or 0)
        if floor_raised:
            self._floor = level
            self._drop_below(level)
        if raise_reached or floor_raised or slot != self.last_connected:
            self.last_connected = slot
            self._save()

    def _drop_below(self, floor: int) -> None:
        """A05.FR.06: no slot below security profile `floor` is dialled any more; the CSMS's
        are removed, slot 1 (the config file's) leaves the priority only."""
        below = [slot for slot in self._slots if self._kept(slot).security_profile < floor]
        if not below or len(below) == len(self._slots):
            return  # the floor was reached with one of the slots: never all below it
        for slot in below:
            if slot != CONFIGURED_SLOT:
                del self._slots[slot]
        remaining = [slot for slot in sorted(self._slots) if slot not in below]
        self.priority = [slot for slot in self.priority if slot not in below] or remaining[:1]
        if self.last_connected in below:
            self.last_connected = None
        log.warning(
            "security profile %d in use: slots %s below it dropped, priority now %s",
            floor,
            below,
            ",".join(map(str, self.priority)),
        )

    def _save(self) -> None:
        state = {
            "slots": {
                str(slot): asdict(profile)
                for slot, profile in self._slots.items()
                if slot != CONFIGURED_SLOT
            },
            "priority": self.priority,
            "attempts": self.attempts,
            "last_connected": self.last_connected,
            "raised": _security_record(self._raised, self._slots[CONFIGURED_SLOT]),
            "floor": _security_record(self._floor, self._slots[CONFIGURED_SLOT]),
        }
        write_private(self.path, json.dumps(state, indent=1).encode("utf-8"))

    def _load(self) -> None:
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            for slot, fields in state["slots"].items():
                if int(slot) in SLOTS and int(slot) != CONFIGURED_SLOT:
                    self._slots[int(slot)] = NetworkProfile(**fields)
            priority = [int(slot) for slot in state["priority"]]
            attempts = int(state["attempts"])
            last = state["last_connected"]
            configured = self._slots[CONFIGURED_SLOT]
            self._raised = _kept_level(state.get("raised"), configured)  # absent: earlier files
            self._floor = _kept_level(state.get("floor"), configured)
            slot_1_changed = state.get("floor") is not None and self._floor is None
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.error("%s unreadable, the CSMS's network profiles are lost: %s", self.path, exc)
            return
        if priority and set(priority) <= self.stored and attempts >= 1:
            self.priority, self.attempts = priority, attempts
        self.last_connected = last if last in self._slots else None
        if slot_1_changed:
            log.warning("slot 1 changed in the config file: dialled first, the floor cleared")
            self.priority = [CONFIGURED_SLOT] + [s for s in self.priority if s != CONFIGURED_SLOT]
            self.last_connected = None
        elif self._floor is None and self.last_connected is not None:
            # A file of an earlier release: the floor is the last connection's profile.
            self._floor = self.active.security_profile
        if self._floor is not None:
            self._drop_below(self._floor)
