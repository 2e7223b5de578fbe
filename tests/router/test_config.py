"""The router's part of the site config (TOML): settings, defaults, errors naming the key."""

from __future__ import annotations

import re
import ssl
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from config_file.state_directory import StateDirectory
from config_file.table import ConfigError, Table
from lc.config import load_config, parse_config
from router.admission import AdmissionSettings
from router.config import MetricsSettings, parse_router_config
from router.journal_bounds import JournalLimits
from router.session import SessionSettings
from router.settings import RouterSettings
from router.validation import ValidationMode
from tests.lc_process import EXAMPLE, EXAMPLE_JOURNAL, example_config
from tests.router.test_tls import Pki

UPSTREAM = "ws://csms.example.net:9000/ocpp"


def _config(router: dict[str, Any] | None = None, **sections: Any) -> dict[str, Any]:
    return {"router": {"upstream_url": UPSTREAM, **(router or {})}, **sections}


# An existing folder: relative journal paths land in it.
STATE = StateDirectory(Path(tempfile.gettempdir()))


def _parse(data: dict[str, Any]) -> tuple[RouterSettings, MetricsSettings, str]:
    return parse_router_config(Table(data, ""), STATE)


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        _parse(data)
    return str(caught.value)


# -- valid configs ------------------------------------------------------------------------------


def test_minimal_config_needs_only_the_upstream_url() -> None:
    router, _, _ = _parse({"router": {"upstream_url": UPSTREAM}})
    assert router.upstream_url == UPSTREAM


def test_every_default() -> None:
    router, metrics, policy = _parse({"router": {"upstream_url": UPSTREAM}})
    assert router.listen_host == "0.0.0.0"
    assert router.listen_port == 9000
    assert router.ping_interval_s == 30.0
    assert router.connect_timeout_s == 10.0
    assert router.session == SessionSettings(
        call_timeout_s=30.0,
        max_frame_chars=65536,
        validation_to_csms=ValidationMode.OBSERVE,
        validation_to_charger=ValidationMode.OBSERVE,
    )
    assert router.server_ssl is None and router.upstream_ssl is None
    assert router.allowed_identities is None
    assert (router.max_frames_per_s, router.frame_burst, router.max_chargers) == (50, 200, None)
    assert (router.max_connections, router.handshake_timeout_s, router.max_csms_dials) == (
        1000,
        10.0,
        20,
    )
    assert router.admission == AdmissionSettings(10.0, 50, 100)
    assert router.frame_timeout_s == 30.0
    assert metrics == MetricsSettings("127.0.0.1", 9100)
    assert policy == "hold"  # the default since offline hold exists
    assert router.hold is not None
    assert router.hold.journal_path == Path(tempfile.gettempdir()) / "journal.sqlite"
    assert router.hold.offline.local_list == frozenset()
    assert router.hold.offline.accept_unknown_ids is False


def test_close_policy_has_no_hold_settings() -> None:
    router, _, policy = _parse({"router": {"upstream_url": UPSTREAM, "connection_loss": "close"}})
    assert policy == "close" and router.hold is None


def test_close_policy_ignores_the_offline_keys_but_not_a_misspelt_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    offline = {"journal_path": "/var/lib/j.sqlite", "local_list": ["TAG1"]}
    router, _, policy = _parse(
        {"router": {"upstream_url": UPSTREAM, "connection_loss": "close", "offline": offline}}
    )
    assert policy == "close" and router.hold is None
    assert "router.offline.journal_path, router.offline.local_list ignored" in caplog.text
    with pytest.raises(ConfigError, match=r"^router\.offline\.local_lst: unknown key"):
        _parse(
            {
                "router": {
                    "upstream_url": UPSTREAM,
                    "connection_loss": "close",
                    "offline": {"local_lst": []},
                }
            }
        )


def _keep_credentials(key: Path) -> dict[str, Any]:
    offline = {"keep_credentials": True, "credentials_key_path": str(key)}
    return {"router": {"upstream_url": UPSTREAM, "offline": offline}}


def test_keep_credentials_reads_an_owner_only_key_file(tmp_path: Path) -> None:
    key = tmp_path / "credentials.key"
    key.write_bytes(bytes(range(32)))
    key.chmod(0o600)
    router, _, _ = _parse(_keep_credentials(key))
    assert router.hold is not None and router.hold.sealer is not None
    sealed = router.hold.sealer.seal("CP1", "Basic abc")
    assert router.hold.sealer.open("CP1", sealed) == "Basic abc"
    assert router.hold.sealer.open("CP2", sealed) is None  # bound to its charger
    assert "abc" not in repr(router)


@pytest.mark.parametrize(
    ("mode", "content", "problem"),
    [
        (0o640, bytes(32), "open to group or others (mode 640)"),
        (0o604, bytes(32), "open to group or others (mode 604)"),
        (0o600, bytes(16), "holds 16 bytes, expected 32"),
        (None, b"", "cannot read"),
    ],
)
def test_keep_credentials_refuses_a_key_file_others_can_read_or_a_bad_one(
    tmp_path: Path, mode: int | None, content: bytes, problem: str
) -> None:
    key = tmp_path / "credentials.key"
    if mode is not None:
        key.write_bytes(content)
        key.chmod(mode)
    message = _error(_keep_credentials(key))
    assert message.startswith("router.offline.credentials_key_path: "), message
    assert problem in message


def test_journal_bounds_are_read_with_defaults_for_a_day_of_a_busy_garage() -> None:
    router, _, _ = _parse({"router": {"upstream_url": UPSTREAM}})
    assert router.hold is not None
    assert router.hold.limits == JournalLimits(64 << 20, 2048 << 20, 168 * 3600.0)
    offline = {"max_journal_mb": 10, "max_journal_mb_per_charger": 0.5, "max_meter_value_age_h": 2}
    router, _, _ = _parse({"router": {"upstream_url": UPSTREAM, "offline": offline}})
    assert router.hold is not None
    assert router.hold.limits == JournalLimits(1 << 19, 10 << 20, 7200.0)


def test_a_charger_bound_above_the_total_names_its_key() -> None:
    offline = {"max_journal_mb": 10, "max_journal_mb_per_charger": 20}
    message = _error({"router": {"upstream_url": UPSTREAM, "offline": offline}})
    assert message.startswith("router.offline.max_journal_mb_per_charger: must be at most")


def test_keep_credentials_needs_its_key_path() -> None:
    offline = {"keep_credentials": True}
    message = _error({"router": {"upstream_url": UPSTREAM, "offline": offline}})
    assert message.startswith("router.offline.credentials_key_path: required key is missing")


def test_offline_settings_are_read_and_checked(tmp_path: Path) -> None:
    offline = {
        "journal_path": str(tmp_path / "journal.sqlite"),
        "local_list": ["TAG1", "TAG2"],
        "accept_unknown_ids": True,
        "redial_interval_s": 2,
    }
    router, _, _ = _parse({"router": {"upstream_url": UPSTREAM, "offline": offline}})
    assert router.hold is not None
    assert router.hold.offline.local_list == frozenset({"TAG1", "TAG2"})
    assert router.hold.offline.accept_unknown_ids is True
    assert router.hold.offline.redial_interval_s == 2
    for key, bad in [("local_list", "TAG1"), ("accept_unknown_ids", "yes"), ("typo", 1)]:
        with pytest.raises(ConfigError, match=rf"^router\.offline\.{key}:"):
            _parse({"router": {"upstream_url": UPSTREAM, "offline": {key: bad}}})


def test_every_router_and_metrics_key_is_read() -> None:
    router, metrics, policy = _parse(
        {
            "router": {
                "upstream_url": "wss://csms.example.net/ocpp",
                "listen_host": "127.0.0.1",
                "listen_port": 8080,
                "ping_interval_s": 12.5,
                "connect_timeout_s": 3,
                "call_timeout_s": 45,
                "max_frame_bytes": 4096,
                "validation_to_csms": "strict",
                "validation_to_charger": "observe",
                "connection_loss": "close",
                "max_frames_per_s": 12.5,
                "frame_burst": 30,
                "frame_timeout_s": 2.5,
                "max_chargers": 500,
                "allowed_identities": ["CP01", "CP02"],
                "max_connections": 600,
                "handshake_timeout_s": 2.5,
                "handshakes_per_s_per_address": 0.5,
                "handshake_burst_per_address": 4,
                "max_handshakes_in_progress": 7,
                "max_csms_dials": 3,
            },
            "metrics": {"listen_host": "0.0.0.0", "listen_port": 9200},
        }
    )
    assert router.upstream_url == "wss://csms.example.net/ocpp"
    assert (router.listen_host, router.listen_port) == ("127.0.0.1", 8080)
    assert router.ping_interval_s == 12.5
    assert router.connect_timeout_s == 3.0 and isinstance(router.connect_timeout_s, float)
    assert router.session == SessionSettings(
        call_timeout_s=45.0,
        max_frame_chars=4096,
        validation_to_csms=ValidationMode.STRICT,
        validation_to_charger=ValidationMode.OBSERVE,
    )
    assert (router.max_frames_per_s, router.frame_burst, router.max_chargers) == (12.5, 30, 500)
    assert router.frame_timeout_s == 2.5
    assert router.allowed_identities == frozenset({"CP01", "CP02"})
    assert (router.max_connections, router.handshake_timeout_s, router.max_csms_dials) == (
        600,
        2.5,
        3,
    )
    assert router.admission == AdmissionSettings(0.5, 4, 7)
    assert metrics == MetricsSettings("0.0.0.0", 9200)
    assert policy == "close"


def test_zero_turns_the_frame_rate_and_connection_limits_off() -> None:
    router, _, _ = _parse(_config({"max_frames_per_s": 0, "max_chargers": 0, "max_connections": 0}))
    assert router.max_frames_per_s is None and router.max_chargers is None
    assert router.max_connections is None


@pytest.mark.parametrize("ping", [0, 0.0])
def test_ping_interval_zero_turns_pings_off(ping: float) -> None:
    router, _, _ = _parse(_config({"ping_interval_s": ping}))
    assert router.ping_interval_s is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("listen_port", 0),
        ("listen_port", 65535),
        ("max_frame_bytes", 1024),
        ("max_frame_bytes", 16 << 20),
        ("call_timeout_s", 0.1),
        ("connect_timeout_s", 0.1),
    ],
)
def test_range_limits_are_inclusive(key: str, value: float) -> None:
    router, _, _ = _parse(_config({key: value}))
    assert value in (
        router.listen_port,
        router.session.max_frame_chars,
        router.session.call_timeout_s,
        router.connect_timeout_s,
    )


def test_site_config_without_a_site_section_only_routes() -> None:
    config = parse_config({"router": {"upstream_url": UPSTREAM}})
    assert config.router.upstream_url == UPSTREAM
    assert config.metrics == MetricsSettings()
    assert config.connection_loss == "hold"
    assert config.balancer is None


def test_site_config_rejects_an_unknown_section() -> None:
    with pytest.raises(ConfigError, match=r"^routr: unknown key \(did you mean router\?\)$"):
        parse_config({"router": {"upstream_url": UPSTREAM}, "routr": {}})


def test_example_config_shows_the_router_defaults(tmp_path: Path) -> None:
    example = load_config(example_config(tmp_path))
    router, metrics, policy = _parse({"router": {"upstream_url": example.router.upstream_url}})
    # The example puts the journal where the systemd unit's state directory is.
    assert example.router.hold is not None and router.hold is not None
    assert EXAMPLE_JOURNAL in EXAMPLE.read_text(encoding="utf-8")
    router = replace(
        router, hold=replace(router.hold, journal_path=example.router.hold.journal_path)
    )
    # ... and metrics on the LC's site-network address, where deploy/prometheus.yml scrapes.
    assert example.metrics.listen_host != metrics.listen_host
    metrics = replace(metrics, listen_host=example.metrics.listen_host)
    assert (example.router, example.metrics, example.connection_loss) == (router, metrics, policy)


# -- errors name the key ------------------------------------------------------------------------


def test_missing_router_section() -> None:
    assert _error({}).startswith("router: required key is missing")


@pytest.mark.parametrize("section", ["router", "metrics"])
def test_section_that_is_not_a_table(section: str) -> None:
    data = _config() | {section: "yes"}
    assert _error(data).startswith(f"{section}: expected a table")


def test_missing_upstream_url() -> None:
    assert _error({"router": {}}).startswith("router.upstream_url: required key is missing")


@pytest.mark.parametrize(
    "url",
    [
        "http://csms.example.net/ocpp",
        "https://csms.example.net/ocpp",
        "csms.example.net:9000",
        "ws://",
        "ws:///ocpp",
        "",
    ],
)
def test_upstream_url_must_be_a_websocket_url_with_a_host(url: str) -> None:
    message = _error(_config({"upstream_url": url}))
    assert message.startswith("router.upstream_url:")
    assert repr(url) in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("upstream_url", 9000),
        ("listen_host", 0),
        ("listen_port", "9000"),
        ("listen_port", 9000.0),
        ("listen_port", True),
        ("ping_interval_s", "30"),
        ("ping_interval_s", False),
        ("connect_timeout_s", [10]),
        ("call_timeout_s", {"s": 30}),
        ("max_frame_bytes", 65536.0),
        ("frame_burst", 1.5),
        ("frame_timeout_s", "30"),
        ("max_chargers", "1000"),
        ("max_connections", 1000.5),
        ("handshake_timeout_s", "10"),
        ("max_csms_dials", 2.0),
        ("validation_to_csms", True),
        ("connection_loss", 1),
    ],
)
def test_wrong_type_names_the_key(key: str, value: Any) -> None:
    message = _error(_config({key: value}))
    assert message.startswith(f"router.{key}: expected ")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("listen_port", -1),
        ("listen_port", 65536),
        ("ping_interval_s", -1),
        ("connect_timeout_s", 0),
        ("call_timeout_s", 0.05),
        ("call_timeout_s", -30),
        ("max_frame_bytes", 1023),
        ("max_frame_bytes", (16 << 20) + 1),
        ("max_frames_per_s", -1),
        ("frame_burst", 0),
        ("frame_timeout_s", 0),
        ("max_chargers", -1),
        ("max_connections", -1),
        ("handshake_timeout_s", 0.05),
        ("handshakes_per_s_per_address", 0),
        ("handshake_burst_per_address", 0),
        ("max_handshakes_in_progress", 0),
        ("max_csms_dials", 0),
    ],
)
def test_out_of_range_number_names_the_key(key: str, value: float) -> None:
    message = _error(_config({key: value}))
    assert message.startswith(f"router.{key}: must be ")
    assert message.endswith(f"got {value}")


@pytest.mark.parametrize("port", [-1, 65536, 100000])
def test_out_of_range_metrics_port_names_the_key(port: int) -> None:
    message = _error(_config(metrics={"listen_port": port}))
    assert message.startswith("metrics.listen_port: must be between 0 and 65535")


def test_nan_timeout_is_rejected() -> None:
    assert _error(_config({"call_timeout_s": float("nan")})).startswith("router.call_timeout_s:")


@pytest.mark.parametrize("key", ["validation_to_csms", "validation_to_charger"])
@pytest.mark.parametrize("mode", ["Strict", "reject", "off", ""])
def test_bad_validation_mode_names_the_key_and_the_choices(key: str, mode: str) -> None:
    message = _error(_config({key: mode}))
    assert message.startswith(f"router.{key}: must be one of ['observe', 'strict']")
    assert message.endswith(f"got {mode!r}")


def test_unknown_connection_loss_policy() -> None:
    message = _error(_config({"connection_loss": "keep"}))
    assert message.startswith("router.connection_loss: must be one of ['hold', 'close']")


@pytest.mark.parametrize(
    ("typo", "known"),
    [
        ("listen_prot", "listen_port"),
        ("upstream", "upstream_url"),
        ("ping_interval", "ping_interval_s"),
        ("max_frame_chars", "max_frame_bytes"),
    ],
)
def test_unknown_key_in_router_is_an_error_naming_the_nearest_known_key(
    typo: str, known: str
) -> None:
    assert _error(_config({typo: 1})) == f"router.{typo}: unknown key (did you mean {known}?)"


@pytest.mark.parametrize("typo", ["listen_prot", "listen_hots"])
def test_unknown_key_in_metrics_is_an_error(typo: str) -> None:
    assert _error(_config(metrics={typo: 1})).startswith(f"metrics.{typo}: unknown key (did you")


def test_an_unknown_key_like_no_known_one_gets_no_suggestion() -> None:
    assert _error(_config(metrics={"path": 1})) == "metrics.path: unknown key"


def test_a_missing_key_names_the_misspelt_one_beside_it() -> None:
    message = _error({"router": {"upstream_URL": UPSTREAM}})
    assert message == (
        "router.upstream_url: required key is missing (is router.upstream_URL a misspelling of it?)"
    )


def test_metrics_and_router_on_one_port_are_refused() -> None:
    message = _error(_config({"listen_port": 9100}))  # metrics default: 9100
    assert message.startswith("metrics.listen_port: 9100 is router.listen_port too")
    # Distinct addresses may share a port number.
    _parse(_config({"listen_port": 9100, "listen_host": "192.0.2.1"}))


def test_a_journal_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "not-made-yet" / "journal.sqlite"
    message = _error(_config({"offline": {"journal_path": str(missing)}}))
    assert message.startswith(
        f"router.offline.journal_path: the folder {str(missing.parent)!r} does not exist"
    )
    folder = _error(_config({"offline": {"journal_path": str(tmp_path)}}))
    assert folder == f"router.offline.journal_path: {str(tmp_path)!r} is a folder, not a file"


def test_a_bad_value_is_reported_before_an_unknown_key() -> None:
    message = _error(_config({"listen_port": "x", "listen_prot": 1}))
    assert message.startswith("router.listen_port:")


@pytest.mark.parametrize("identities", ["CP01", []])
def test_allowed_identities_must_be_a_list_of_identities(identities: Any) -> None:
    message = _error(_config({"allowed_identities": identities}))
    assert message.startswith("router.allowed_identities: expected a non-empty list")


@pytest.mark.parametrize("identity", [2, ""])
def test_each_allowed_identity_must_be_a_string(identity: Any) -> None:
    message = _error(_config({"allowed_identities": ["CP01", identity]}))
    assert message.startswith("router.allowed_identities[1]: expected a charger identity")


@pytest.mark.parametrize(
    ("identity", "bad"),
    [
        ("CP 01", " "),
        ("garage/CP01", "/"),
        ("CP01?x#1", "#?"),
        ("CP:1", ":"),
        ("CP\u00e901", "\u00e9"),
    ],
)
def test_an_identity_a_url_path_cannot_carry_is_refused(identity: str, bad: str) -> None:
    message = _error(_config({"allowed_identities": [identity]}))
    assert message.startswith(
        f"router.allowed_identities[0]: {identity!r} has characters a URL path cannot carry "
        f"({bad!r})"
    )


def test_identities_with_every_url_safe_character_are_accepted() -> None:
    identity = "Garage-B_03.CP~7!$&'()*+,;=@x"
    router, _, _ = _parse(_config({"allowed_identities": [identity]}))
    assert router.allowed_identities == frozenset({identity})


# -- TLS (security profiles 2 and 3) ------------------------------------------------------------

WSS_UPSTREAM = "wss://csms.example.net/ocpp"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def _tls_config(
    tls: dict[str, str] | None = None, upstream_tls: dict[str, str] | None = None
) -> dict[str, Any]:
    router: dict[str, Any] = {"upstream_url": WSS_UPSTREAM}
    if tls is not None:
        router["tls"] = tls
    if upstream_tls is not None:
        router["upstream_tls"] = upstream_tls
    return {"router": router}


def _files(certificate_and_key: tuple[Path, Path]) -> dict[str, str]:
    certificate, key = certificate_and_key
    return {"certificate": str(certificate), "private_key": str(key)}


def test_tls_tables_build_the_lcs_contexts(pki: Pki) -> None:
    router, _, _ = _parse(
        _tls_config(
            tls=_files(pki.issue("lc.example.net", "lc")) | {"charger_ca": str(pki.ca)},
            upstream_tls=_files(pki.issue("LC-0001", "lc-client")) | {"ca": str(pki.ca)},
        )
    )
    assert router.server_ssl is not None and router.upstream_ssl is not None
    assert router.server_ssl.verify_mode is ssl.CERT_REQUIRED  # security profile 3
    assert router.upstream_ssl.verify_mode is ssl.CERT_REQUIRED
    assert router.upstream_ssl.check_hostname
    for context in (router.server_ssl, router.upstream_ssl):
        assert context.minimum_version is ssl.TLSVersion.TLSv1_2
        tls12 = {suite["name"] for suite in context.get_ciphers() if suite["protocol"] == "TLSv1.2"}
        assert tls12 == {
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "AES128-GCM-SHA256",
            "AES256-GCM-SHA384",
        }


def test_without_charger_ca_chargers_need_no_certificate(pki: Pki) -> None:
    router, _, _ = _parse(_tls_config(tls=_files(pki.issue("lc.example.net", "lc"))))
    assert router.server_ssl is not None
    assert router.server_ssl.verify_mode is ssl.CERT_NONE  # security profile 2


def test_charger_organization_needs_profile_3_and_is_kept(pki: Pki) -> None:
    files = _files(pki.issue("lc.example.net", "lc"))
    with pytest.raises(ConfigError, match=r"router\.tls\.charger_organization: needs charger_ca"):
        _parse(_tls_config(tls=files | {"charger_organization": "Example CSO"}))
    profile_3 = files | {"charger_ca": str(pki.ca), "charger_organization": "Example CSO"}
    router, _, _ = _parse(_tls_config(tls=profile_3))
    assert router.charger_organization == "Example CSO"
    # The certificate files behind the contexts, for the expiry metric.
    assert router.certificate_files == (
        ("charger_server", Path(files["certificate"])),
        ("charger_ca", pki.ca),
    )


def test_a_wss_upstream_without_upstream_tls_verifies_the_csms() -> None:
    router, _, _ = _parse(_tls_config())
    assert router.server_ssl is None  # chargers may still connect without TLS
    assert router.upstream_ssl is not None
    assert router.upstream_ssl.verify_mode is ssl.CERT_REQUIRED
    assert router.upstream_ssl.check_hostname
    assert router.upstream_ssl.minimum_version is ssl.TLSVersion.TLSv1_2


def test_upstream_tls_needs_a_wss_upstream(pki: Pki) -> None:
    message = _error(_config({"upstream_tls": {"ca": str(pki.ca)}}))
    assert message == f"router.upstream_tls: needs a wss:// upstream_url, got {UPSTREAM!r}"


def _encrypted_copy(key: Path) -> Path:
    loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
    encrypted = key.with_suffix(".encrypted.key")
    encrypted.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return encrypted


def test_tls_file_errors_name_the_key_and_the_problem(pki: Pki, tmp_path: Path) -> None:
    certificate, key = pki.issue("lc.example.net", "lc")
    _, other_key = pki.issue("other.example.net", "other")
    missing = tmp_path / "missing.pem"
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    encrypted = _encrypted_copy(key)
    cases = [
        (
            {"certificate": str(missing), "private_key": str(key)},
            f"router.tls.certificate: cannot read {missing}: No such file or directory",
        ),
        (
            {"certificate": str(not_pem), "private_key": str(key)},
            f"router.tls.certificate: {not_pem}: no PEM certificate in it",
        ),
        (
            {"certificate": str(certificate), "private_key": str(certificate)},
            f"router.tls.private_key: {certificate}: no PEM private key in it",
        ),
        (
            {"certificate": str(certificate), "private_key": str(other_key)},
            f"router.tls.private_key: {other_key} does not match the certificate in {certificate}",
        ),
        (
            {"certificate": str(certificate), "private_key": str(encrypted)},
            f"router.tls.private_key: {encrypted}: encrypted; the LC needs it unencrypted",
        ),
        (
            {"certificate": str(certificate), "private_key": str(key), "charger_ca": str(not_pem)},
            f"router.tls.charger_ca: {not_pem}: no usable PEM certificate in it",
        ),
    ]
    for tls, expected in cases:
        assert _error(_tls_config(tls=tls)) == expected


def test_upstream_tls_file_errors_name_the_key(pki: Pki, tmp_path: Path) -> None:
    certificate, key = pki.issue("LC-0001", "lc-client")
    _, other_key = pki.issue("LC-0002", "other")
    missing = tmp_path / "missing.pem"
    cases = [
        ({"ca": str(missing)}, f"router.upstream_tls.ca: cannot read {missing}: "),
        ({"certificate": str(certificate)}, "router.upstream_tls.private_key: required with"),
        ({"private_key": str(key)}, "router.upstream_tls.certificate: required with"),
        (
            {"certificate": str(certificate), "private_key": str(other_key)},
            f"router.upstream_tls.private_key: {other_key} does not match",
        ),
    ]
    for upstream_tls, expected in cases:
        assert _error(_tls_config(upstream_tls=upstream_tls)).startswith(expected)


@pytest.mark.parametrize(
    ("tls", "upstream_tls", "expected"),
    [
        ({"certificate": "lc.pem"}, None, "router.tls.private_key: required key is missing"),
        ({"private_key": "lc.key"}, None, "router.tls.certificate: required key is missing"),
        (
            {"certificate": 1, "private_key": "k"},
            None,
            "router.tls.certificate: expected a file path or a list of two",
        ),
        (
            {"certificate": ["a.pem", "b.pem", "c.pem"], "private_key": "k"},
            None,
            "router.tls.certificate: expected a file path or a list of two",
        ),
        (
            {"certificate": ["a.pem", "b.pem"], "private_key": "a.key"},
            None,
            "router.tls.private_key: one key per certificate, in the same order",
        ),
        (None, {"charger_ca": "ca.pem"}, "router.upstream_tls.charger_ca: unknown key"),
    ],
)
def test_tls_table_keys_are_checked(
    tls: dict[str, Any] | None, upstream_tls: dict[str, Any] | None, expected: str
) -> None:
    assert _error(_tls_config(tls, upstream_tls)).startswith(expected)


def test_two_certificates_must_have_different_key_types(pki: Pki) -> None:
    first, second = pki.issue("lc.example.net", "lc-1"), pki.issue("lc.example.net", "lc-2")
    rsa_pair = pki.issue("lc.example.net", "lc-rsa", rsa_key=True)

    def tls(*pairs: tuple[Path, Path]) -> dict[str, Any]:
        return {
            "certificate": [str(certificate) for certificate, _ in pairs],
            "private_key": [str(key) for _, key in pairs],
        }

    assert _error(_tls_config(tls(first, second))) == (
        "router.tls.certificate: both certificates have ECDSA keys: one RSA, one ECDSA"
    )
    router, _, _ = _parse(_tls_config(tls(first, rsa_pair)))
    assert router.server_ssl is not None


def test_an_unknown_tls_key_is_an_error(pki: Pki) -> None:
    tls = _files(pki.issue("lc.example.net", "lc")) | {"ca": str(pki.ca)}  # not charger_ca
    assert _error(_tls_config(tls=tls)) == "router.tls.ca: unknown key"


# -- reading files ------------------------------------------------------------------------------


def test_load_config_reads_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        f'[router]\nupstream_url = "{UPSTREAM}"\nlisten_port = 9001\n'
        'validation_to_charger = "strict"\n\n[metrics]\nlisten_port = 9101\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.router.upstream_url == UPSTREAM
    assert config.router.listen_port == 9001
    assert config.router.session.validation_to_charger is ValidationMode.STRICT
    assert config.metrics.listen_port == 9101


def test_load_config_on_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=r"cannot read") as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: cannot read: ")


def test_load_config_on_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read"):
        load_config(tmp_path)


def test_load_config_on_invalid_toml_says_where(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[router]\nupstream_url = "ws://x\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not valid TOML: ")
    assert re.search(r"line 2", message)


def test_load_config_passes_key_errors_through(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[router]\nupstream_url = "http://csms"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^router\.upstream_url: "):
        load_config(path)


def test_load_config_on_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_bytes(b'[router]\nupstream_url = "ws://caf\xe9.example"\n')  # Latin-1
    with pytest.raises(ConfigError, match=r"UTF-8|utf-8"):
        load_config(path)


def test_an_allowed_identity_longer_than_a_charger_may_send_names_the_key() -> None:
    identity = "C" * 49  # Part 4: an identity is at most 48 characters
    message = _error(_config({"allowed_identities": ["CP01", identity]}))
    assert message.startswith(f"router.allowed_identities[1]: {identity!r}: the identity is longer")


def test_max_connections_below_max_chargers_names_the_key() -> None:
    message = _error(_config({"max_chargers": 500, "max_connections": 499}))
    assert message.startswith("router.max_connections: must be at least max_chargers (500)")
    router, _, _ = _parse(_config({"max_chargers": 5000, "max_connections": 0}))
    assert (router.max_chargers, router.max_connections) == (5000, None)
