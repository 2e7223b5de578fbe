"""The router's sections of the site config: [router] and [metrics]."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

from config_file.state_directory import StateDirectory
from config_file.table import ConfigError, Table, charger_identity
from router.admission import AdmissionSettings
from router.journal_bounds import MIB, JournalLimits
from router.offline import OfflineSettings
from router.sealed_credentials import CredentialKeyError, CredentialSealer, read_key
from router.session import SessionSettings
from router.settings import HoldSettings, RouterSettings
from router.tls import (
    CertificateFiles,
    ChargerTlsSettings,
    TlsSettingError,
    UpstreamTlsSettings,
    charger_context,
    upstream_context,
)
from router.validation import ValidationMode

CONNECTION_LOSS_POLICIES = ("hold", "close")
# The [router.offline] keys: read under `hold`, accepted and ignored under `close`.
HOLD_KEYS = (
    "journal_path",
    "local_list",
    "accept_unknown_ids",
    "redial_interval_s",
    "keep_credentials",
    "credentials_key_path",
    "max_journal_mb",
    "max_journal_mb_per_charger",
    "max_meter_value_age_h",
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9100


def _router_settings(table: Table, state: StateDirectory) -> tuple[RouterSettings, str]:
    upstream = table.string("upstream_url")
    parsed = urlparse(upstream)
    if parsed.scheme not in ("ws", "wss") or not parsed.hostname:
        raise ConfigError(
            f"{table.key('upstream_url')}: expected ws://host[:port][/path] or wss://..., "
            f"got {upstream!r}"
        )
    ping = table.number("ping_interval_s", 30, minimum=0)
    modes = [mode.value for mode in ValidationMode]
    session = SessionSettings(
        call_timeout_s=table.number("call_timeout_s", 30, minimum=0.1),
        max_frame_chars=table.integer("max_frame_bytes", 65536, minimum=1024, maximum=16 << 20),
        validation_to_csms=ValidationMode(table.choice("validation_to_csms", modes, "observe")),
        validation_to_charger=ValidationMode(
            table.choice("validation_to_charger", modes, "observe")
        ),
        protect_network_profiles=table.boolean("protect_network_profiles", False),
    )
    policy = table.choice("connection_loss", CONNECTION_LOSS_POLICIES, "hold")
    offline = table.table("offline", {})
    hold = None
    if policy == "hold":
        hold = _hold_settings(offline, state)
    else:
        _ignore_hold_settings(offline)
    offline.finish()
    rate = table.number("max_frames_per_s", 50, minimum=0)
    max_chargers = table.integer("max_chargers", 0, minimum=0)
    max_connections = table.integer("max_connections", 1000, minimum=0)
    if max_connections and max_connections < max_chargers:
        # Every connected charger holds one of these sockets.
        raise ConfigError(
            f"{table.key('max_connections')}: must be at least max_chargers "
            f"({max_chargers}), got {max_connections}; 0 = no limit"
        )
    admission = AdmissionSettings(
        per_source_rate=table.number("handshakes_per_s_per_address", 10, minimum=0.01),
        per_source_burst=table.integer("handshake_burst_per_address", 50, minimum=1),
        max_in_progress=table.integer("max_handshakes_in_progress", 100, minimum=1),
    )
    charger_tls = _charger_tls(table.table("tls")) if table.has("tls") else None
    server_ssl = charger_tls.context if charger_tls is not None else None
    server_files = charger_tls.files if charger_tls is not None else ()
    if table.has("upstream_tls") and parsed.scheme != "wss":
        raise ConfigError(
            f"{table.key('upstream_tls')}: needs a wss:// upstream_url, got {upstream!r}"
        )
    # Towards a wss:// CSMS the LC always uses its own TLS settings, by default with the
    # system's trust store.
    upstream_tls = (
        _upstream_tls(table.table("upstream_tls", {})) if parsed.scheme == "wss" else None
    )
    settings = RouterSettings(
        upstream_url=upstream,
        listen_host=table.string("listen_host", "0.0.0.0"),
        listen_port=table.integer("listen_port", 9000, minimum=0, maximum=65535),
        ping_interval_s=ping or None,
        connect_timeout_s=table.number("connect_timeout_s", 10, minimum=0.1),
        session=session,
        max_frames_per_s=rate or None,
        frame_burst=table.integer("frame_burst", 200, minimum=1),
        frame_timeout_s=table.number("frame_timeout_s", 30, minimum=0.1),
        max_chargers=max_chargers or None,
        max_connections=max_connections or None,
        handshake_timeout_s=table.number("handshake_timeout_s", 10, minimum=0.1),
        admission=admission,
        max_csms_dials=table.integer("max_csms_dials", 20, minimum=1),
        server_ssl=server_ssl,
        upstream_ssl=upstream_tls.context if upstream_tls is not None else None,
        upstream_tls=upstream_tls.settings if upstream_tls is not None else None,
        certificate_files=server_files + (upstream_tls.files if upstream_tls is not None else ()),
        charger_organization=charger_tls.organization if charger_tls is not None else None,
        allowed_identities=_allowed_identities(table),
        hold=hold,
    )
    table.finish()
    return settings, policy


def _optional_path(table: Table, name: str) -> Path | None:
    return Path(table.string(name)) if table.has(name) else None


def _paths(table: Table, name: str) -> list[Path]:
    """A file path, or a list of one or two."""
    value = table.raw(name)
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not 1 <= len(paths) <= 2:
        raise ConfigError(
            f"{table.key(name)}: expected a file path or a list of two, got {value!r}"
        )
    if not all(isinstance(path, str) and path for path in paths):
        raise ConfigError(f"{table.key(name)}: expected file paths, got {value!r}")
    return [Path(path) for path in paths]


class _ChargerTls(NamedTuple):
    context: ssl.SSLContext
    files: CertificateFiles
    organization: str | None  # A00.FR.404: what a charger certificate's O must contain


def _charger_tls(table: Table) -> _ChargerTls:
    certificates, keys = _paths(table, "certificate"), _paths(table, "private_key")
    if len(certificates) != len(keys):
        raise ConfigError(
            f"{table.key('private_key')}: one key per certificate, in the same order "
            f"({len(certificates)} certificates, {len(keys)} keys)"
        )
    settings = ChargerTlsSettings(
        certificates=tuple(zip(certificates, keys, strict=True)),
        charger_ca=_optional_path(table, "charger_ca"),
    )
    organization = (
        table.string("charger_organization") if table.has("charger_organization") else None
    )
    if organization is not None and (settings.charger_ca is None or not organization.strip()):
        raise ConfigError(
            f"{table.key('charger_organization')}: needs charger_ca (security profile 3) and "
            f"a non-empty name, got {organization!r}"
        )
    table.finish()
    files = [("charger_server", path) for path in certificates]
    if settings.charger_ca is not None:
        files.append(("charger_ca", settings.charger_ca))
    context = _tls_context(table, partial(charger_context, settings))
    return _ChargerTls(context, tuple(files), organization)


class _UpstreamTls(NamedTuple):
    context: ssl.SSLContext
    files: CertificateFiles
    settings: UpstreamTlsSettings


def _upstream_tls(table: Table) -> _UpstreamTls:
    settings = UpstreamTlsSettings(
        ca=_optional_path(table, "ca"),
        certificate=_optional_path(table, "certificate"),
        private_key=_optional_path(table, "private_key"),
    )
    table.finish()
    files = [
        (use, path)
        for use, path in (("upstream_client", settings.certificate), ("upstream_ca", settings.ca))
        if path is not None
    ]
    return _UpstreamTls(
        _tls_context(table, partial(upstream_context, settings)), tuple(files), settings
    )


def _tls_context(table: Table, build: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """Build a context; a setting it cannot use becomes an error naming that key."""
    try:
        return build()
    except TlsSettingError as exc:
        raise ConfigError(f"{table.key(exc.setting)}: {exc.problem}") from exc


def _allowed_identities(table: Table) -> frozenset[str] | None:
    entries = table.optional_list(
        "allowed_identities",
        "charger identities (strings); leave it out to let any identity connect",
    )
    if entries is None:
        return None
    return frozenset(charger_identity(key, identity) for key, identity in entries)


def _hold_settings(table: Table, state: StateDirectory) -> HoldSettings:
    local_list = table.raw("local_list", [])
    if not isinstance(local_list, list) or not all(isinstance(tag, str) for tag in local_list):
        raise ConfigError(f"{table.key('local_list')}: expected a list of id tags (strings)")
    journal = state.path(table, "journal_path", "journal.sqlite")
    if not journal.parent.is_dir():
        raise ConfigError(
            f"{table.key('journal_path')}: the folder {str(journal.parent)!r} does not exist "
            "(create it on persistent storage, writable by the LC's user only)"
        )
    if journal.is_dir():
        raise ConfigError(f"{table.key('journal_path')}: {str(journal)!r} is a folder, not a file")
    return HoldSettings(
        journal_path=journal,
        offline=OfflineSettings(
            local_list=frozenset(local_list),
            accept_unknown_ids=table.boolean("accept_unknown_ids", False),
            redial_interval_s=table.number("redial_interval_s", 5.0, minimum=0.05),
        ),
        sealer=_credential_sealer(table),
        limits=_journal_limits(table),
    )


def _journal_limits(table: Table) -> JournalLimits:
    default = JournalLimits()
    total = table.number("max_journal_mb", default.total_bytes / MIB, minimum=0.01)
    per_charger = table.number(
        "max_journal_mb_per_charger", default.charger_bytes / MIB, minimum=0.01
    )
    if per_charger > total:
        raise ConfigError(
            f"{table.key('max_journal_mb_per_charger')}: must be at most max_journal_mb "
            f"({total:g}), got {per_charger:g}"
        )
    age_h = table.number("max_meter_value_age_h", default.meter_value_age_s / 3600, minimum=1)
    return JournalLimits(int(per_charger * MIB), int(total * MIB), age_h * 3600)


def _credential_sealer(table: Table) -> CredentialSealer | None:
    """With keep_credentials, the sealer of the key file; a key others can read is refused."""
    if not table.boolean("keep_credentials", False):
        if table.has("credentials_key_path"):
            table.string("credentials_key_path")
        return None
    key_path = table.string("credentials_key_path")
    try:
        return CredentialSealer(read_key(Path(key_path)))
    except CredentialKeyError as exc:
        raise ConfigError(f"{table.key('credentials_key_path')}: {exc}") from exc


def _ignore_hold_settings(table: Table) -> None:
    """Under `close` the [router.offline] keys mean nothing; the example config offers both
    policies, so they are accepted (a misspelt key still fails) and named in a warning."""
    ignored = [name for name in HOLD_KEYS if table.has(name)]
    for name in ignored:
        table.raw(name)
    if ignored:
        log.warning(
            '%s ignored: they apply to connection_loss = "hold" only',
            ", ".join(table.key(name) for name in ignored),
        )


def _metrics_settings(table: Table) -> MetricsSettings:
    settings = MetricsSettings(
        listen_host=table.string("listen_host", "127.0.0.1"),
        listen_port=table.integer("listen_port", 9100, minimum=0, maximum=65535),
    )
    table.finish()
    return settings


def parse_router_config(
    root: Table, state: StateDirectory
) -> tuple[RouterSettings, MetricsSettings, str]:
    """The [router] and [metrics] sections: router settings, metrics endpoint, loss policy."""
    router, policy = _router_settings(root.table("router"), state)
    metrics = _metrics_settings(root.table("metrics", {}))
    if metrics.listen_port == router.listen_port != 0 and _may_overlap(
        metrics.listen_host, router.listen_host
    ):
        raise ConfigError(
            f"metrics.listen_port: {metrics.listen_port} is router.listen_port too; "
            "the two need different ports"
        )
    return router, metrics, policy


def _may_overlap(host: str, other: str) -> bool:
    """Whether two listen addresses can clash on one port (a wildcard clashes with any)."""
    wildcards = ("", "0.0.0.0", "::")
    return host == other or host in wildcards or other in wildcards
