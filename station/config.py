"""The [station] table: the LC's own identity at the CSMS. Absent, the LC has none."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlparse

from config_file.state_directory import StateDirectory
from config_file.table import ConfigError, Table
from router.frames import OcppVersion
from router.settings import RouterSettings
from station.backoff import BackOff
from station.dialect import DIALECTS, Dialect, StationIdentity
from station.meter_values import MEASURANDS, parse_measurands
from station.network_profiles import (
    Capabilities,
    NetworkProfile,
    NetworkProfiles,
    network_profiles_path,
    security_profile_of,
)
from station.session import SessionTimers

# In the state directory unless state_path says otherwise.
STATE_FILE = "ocpp-lc-station-state.json"
# The BootNotification's field lengths (ChargingStationType in the 2.0.1 schema; 1.6's
# BootNotification.req allows a vendor of 20 characters only).
_FIELD_LENGTHS = {
    OcppVersion.V201: {"vendor": 50, "model": 20, "serial": 25},
    OcppVersion.V16: {"vendor": 20, "model": 20, "serial": 25},
}
_DEFAULT_VENDOR = {
    OcppVersion.V201: "OCPP Local Controller",
    OcppVersion.V16: "OCPP LocalController",  # within 1.6's 20 characters
}
_VERSIONS = {"2.0.1": OcppVersion.V201, "1.6": OcppVersion.V16}
# BasicAuthPassword is a passwordString of 16 to 40 characters (2.0.1 A00, SecurityCtrlr).
PASSWORD_LENGTHS = (16, 40)


@dataclass(frozen=True, slots=True)
class StationConfig:
    identity: str
    csms_url: str
    description: StationIdentity
    dialect: Dialect  # the OCPP version it speaks to the CSMS
    password: str | None = field(repr=False)  # never in a log line or a traceback
    timers: SessionTimers
    backoff: BackOff
    ssl_context: ssl.SSLContext | None = field(compare=False)
    # Where the settings the CSMS changed are kept across restarts (station.overrides).
    state_path: Path
    # The site meter as the LC's own MeterValues (SampledDataCtrlr.AlignedData*); 0: none.
    aligned_interval_s: int = 900
    aligned_measurands: tuple[str, ...] = MEASURANDS
    # How long a new release of the LC has to start and be accepted by the CSMS.
    release_trial_s: float = 180.0


def package_version() -> str:
    """The LC's firmware version as the CSMS sees it: the installed package's version."""
    try:
        return version("ocpp-local-controller")
    except PackageNotFoundError:
        return "unknown"


def _bounded_string(
    table: Table, name: str, default: str | None, version: OcppVersion
) -> str | None:
    if default is None and not table.has(name):
        table.raw(name, None)
        return None
    value = table.string(name, default)
    limit = _FIELD_LENGTHS[version][name]
    if not value or len(value) > limit:
        raise ConfigError(f"{table.key(name)}: expected 1 to {limit} characters, got {value!r}")
    return value


def valid_password(text: str) -> bool:
    """A passwordString of 16 to 40 characters (2.0.1 A00), in ASCII."""
    low, high = PASSWORD_LENGTHS
    return low <= len(text) <= high and text.isascii()


def _password(table: Table) -> str | None:
    if not table.has("password"):
        table.raw("password", None)
        return None
    password = table.string("password")
    low, high = PASSWORD_LENGTHS
    if not valid_password(password):
        # The value itself stays out of the message: it is a secret.
        raise ConfigError(
            f"{table.key('password')}: expected {low} to {high} ASCII characters, "
            f"got {len(password)} characters"
        )
    return password


def parse_station_config(
    root: Table, router: RouterSettings, state: StateDirectory
) -> StationConfig | None:
    if not root.has("station"):
        return None
    table = root.table("station")
    identity = table.identity("identity")
    default_url = router.upstream_url.rstrip("/") + "/" + identity
    csms_url = table.string("csms_url", default_url)
    parsed = urlparse(csms_url)
    if parsed.scheme not in ("ws", "wss") or not parsed.hostname:
        raise ConfigError(
            f"{table.key('csms_url')}: expected ws://host[:port]/path or wss://..., "
            f"got {csms_url!r}"
        )
    version = _VERSIONS[table.choice("ocpp_version", list(_VERSIONS), "2.0.1")]
    description = StationIdentity(
        vendor=_bounded_string(table, "vendor", _DEFAULT_VENDOR[version], version) or "",
        model=_bounded_string(table, "model", "LocalController", version) or "",
        serial=_bounded_string(table, "serial", None, version),
        firmware=package_version(),
    )
    timers = SessionTimers(
        message_timeout_s=table.number("message_timeout_s", 30, minimum=1),
        clock_report_threshold_s=table.number("clock_report_threshold_s", 20, minimum=0),
    )
    backoff = BackOff(
        wait_minimum_s=table.number("reconnect_wait_minimum_s", 10, minimum=0.1),
        random_range_s=table.number("reconnect_random_range_s", 10, minimum=0),
        repeat_times=table.integer("reconnect_repeat_times", 5, minimum=0, maximum=20),
    )
    state_path = state.path(table, "state_path", STATE_FILE)
    if not state_path.parent.is_dir():
        raise ConfigError(
            f"{table.key('state_path')}: the folder {str(state_path.parent)!r} does not exist "
            "(create it on persistent storage, writable by the LC's user only)"
        )
    measurands_text = table.string("aligned_data_measurands", ",".join(MEASURANDS))
    try:
        measurands = parse_measurands(measurands_text)
    except ValueError as exc:
        raise ConfigError(f"{table.key('aligned_data_measurands')}: {exc}") from exc
    config = StationConfig(
        identity=identity,
        csms_url=csms_url,
        description=description,
        dialect=DIALECTS[version],
        password=_password(table),
        timers=timers,
        backoff=backoff,
        # Towards a wss:// CSMS: the router's upstream TLS settings (client certificate for
        # security profile 3, trusted CAs), else the system's trust store.
        ssl_context=router.upstream_ssl if parsed.scheme == "wss" else None,
        state_path=state_path,
        aligned_interval_s=table.integer("aligned_data_interval_s", 900, minimum=0),
        aligned_measurands=measurands,
        release_trial_s=table.number("release_trial_s", 180, minimum=1),
    )
    table.finish()
    return config


def network_profiles(station: StationConfig, router: RouterSettings) -> NetworkProfiles:
    """The LC's network profiles: slot 1 from this table, the CSMS's beside the state file."""
    configured = NetworkProfile(
        station.csms_url,
        security_profile_of(station.csms_url, station.password is not None),
        station.timers.message_timeout_s,
    )
    tls = router.upstream_tls
    can = Capabilities(
        password=station.password is not None,
        client_certificate=tls is not None and tls.certificate is not None,
    )
    return NetworkProfiles(
        network_profiles_path(station.state_path), configured, station.identity, can
    )
