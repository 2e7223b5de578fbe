"""What the status page shows: one snapshot of the LC, gathered by lc/status_snapshot.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from balancer.allocate import Mode
from balancer.history import SiteSample
from balancer.panels import PanelLoad
from balancer.site import PhaseValues
from balancer.site_cap import SiteCap
from firmware.self_update import UpdateRecord
from lc.site_view import ChargerView, SessionView
from station.security_log import SecurityEvent


@dataclass(frozen=True, slots=True)
class EvseControl:
    """What the load balancer does with one EVSE."""

    limit_a: float | None  # the limit in force on the charger; None: none sent yet
    paused: str | None  # why the allocation gives this session 0 A (a PauseReason value)
    obeys: bool
    priority: int = 0  # higher is served first
    reason: str = ""  # one line: why the limit is what it is
    set_up: bool = True  # False: the LC is still setting its charger up (it cannot limit it yet)


@dataclass(frozen=True, slots=True)
class BalancerStatus:
    mode: Mode | None  # None before the first control period
    caps: PhaseValues
    margin: float
    measured: PhaseValues | None  # the latest fresh meter reading
    history: Sequence[SiteSample]
    window_s: float
    evses: Mapping[str, EvseControl]  # by "identity/evse id"
    station_max: frozenset[str]  # chargers limited through their charger maximum profile
    panels: Sequence[PanelLoad] = ()  # the distribution panels, parents first


@dataclass(frozen=True, slots=True)
class StationStatus:
    """The LC's own link to the CSMS."""

    identity: str
    state: str  # a LinkState value
    boot_status: str | None  # the CSMS's last answer to the LC's BootNotification
    reconnects: int
    cap: SiteCap | None = None  # None: the LC does not balance
    # The CSMS's settings in force over the config file's: key -> (value, the file's value).
    csms_settings: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # The network profile slot of the link and its URL (the last one while disconnected).
    network_slot: int | None = None
    network_url: str = ""


@dataclass(frozen=True, slots=True)
class ExternalLimitStatus:
    """An EMS's limit on the site from outside OCPP, A per phase, by input (None: none)."""

    http_a: float | None
    modbus_a: float | None
    cap: SiteCap  # the cap the balancer plans under, and which limit sets it


@dataclass(frozen=True, slots=True)
class SecurityStatus:
    """The LC's security log and what it saw of chargers' network profiles."""

    recent: Sequence[SecurityEvent]  # newest first
    unsent: int  # critical events the CSMS has not acknowledged yet
    # SetNetworkProfile calls of the CSMS to chargers: relayed, and rejected by the LC.
    network_profiles_relayed: int = 0
    network_profiles_rejected: int = 0


@dataclass(frozen=True, slots=True)
class SoftwareStatus:
    """The LC's own software and what the CSMS asked of it (update, Reset)."""

    running: str  # the running version
    current: str | None = None  # the release `releases/current` points at; None: the installed
    trial_until: float | None = None  # on trial: the wall time it is rolled back unless connected
    kept: Sequence[str] = ()  # other releases in the folder: the one kept for a rollback
    last_update: UpdateRecord | None = None
    reset_scheduled: bool = False  # a Reset (OnIdle, 1.6 Soft) waits for the LC to be idle


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    now: float  # wall time
    chargers: Sequence[ChargerView]
    ended: Sequence[SessionView]  # newest last
    balancer: BalancerStatus | None  # None: the LC only routes
    # Journaled messages the CSMS has not received yet, per charger: (count, oldest wall time).
    backlog: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    # Chargers not connected whose backlog the LC cannot deliver without them.
    waiting_for_charger: frozenset[str] = frozenset()
    # Chargers the config names: listed even while they have not connected.
    expected: Sequence[str] = ()
    started_at: float = 0.0  # wall time the LC started
    # When the first certificate of each use the LC presents or trusts expires (wall time).
    certificate_expiry: Mapping[str, float] = field(default_factory=dict)
    # The CSMS's certificate failed verification: chargers are held as in an outage.
    csms_certificate_invalid: bool = False
    station: StationStatus | None = None  # None: the LC has no identity of its own at the CSMS
    external_limit: ExternalLimitStatus | None = None  # None: no [external_limit]
    security: SecurityStatus | None = None
    software: SoftwareStatus | None = None
