"""The deploy files agree with each other and with the example config, and Prometheus's own
checker accepts the scrape config and the alert rules.

Following the systemd unit, the Containerfile, the example config and the scrape config
together must give a running LC whose journal survives and whose metrics Prometheus reaches.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from lc.config import load_config
from lc.launcher import STOP_BOUND_S
from lc.serve import SHUTDOWN_BOUND_S
from ocpp_knowledge.security_events import SECURITY_EVENTS
from tests.lc_process import REPO, example_config

DEPLOY = REPO / "deploy"
CONFIG = "/etc/ocpp-lc/site.toml"
STATE = "/var/lib/ocpp-lc"


def _text(name: str) -> str:
    return (DEPLOY / name).read_text(encoding="utf-8")


def test_prometheus_scrapes_where_the_example_config_serves_metrics(tmp_path: Path) -> None:
    example = load_config(example_config(tmp_path))
    targets = re.findall(r'targets:\s*\["([^"]+)"\]', _text("prometheus.yml"))
    assert targets == [f"{example.metrics.listen_host}:{example.metrics.listen_port}"]
    assert example.metrics.listen_host not in ("127.0.0.1", "::1", "localhost")


def test_the_journal_is_where_the_unit_and_the_container_keep_state(tmp_path: Path) -> None:
    text = (REPO / "config" / "site.example.toml").read_text(encoding="utf-8")
    journal = Path(tomllib.loads(text)["router"]["offline"]["journal_path"])
    assert str(journal.parent) == STATE
    unit = _text("ocpp-lc.service")
    assert "StateDirectory=ocpp-lc\n" in unit and "StateDirectoryMode=0700\n" in unit
    assert f'VOLUME ["{STATE}"]' in _text("Containerfile")


def test_unit_and_container_run_the_same_config() -> None:
    unit, container = _text("ocpp-lc.service"), _text("Containerfile")
    assert f"ExecStart=/opt/ocpp-lc/bin/ocpp-lc launch --config {CONFIG}\n" in unit
    assert f"check-config --config {CONFIG}\n" in unit
    assert f'CMD ["launch", "--config", "{CONFIG}"]' in container
    assert f'"health", "--config", "{CONFIG}"]' in container


def test_the_unit_waits_longer_than_the_lc_and_its_launcher_take_to_stop() -> None:
    (timeout,) = re.findall(r"^TimeoutStopSec=(\d+)$", _text("ocpp-lc.service"), re.M)
    assert int(timeout) > STOP_BOUND_S > SHUTDOWN_BOUND_S


def test_the_unit_restarts_a_failing_lc_seconds_apart_and_never_gives_up() -> None:
    unit = _text("ocpp-lc.service")
    settings = dict(re.findall(r"^(Restart\w*|StartLimit\w*)=(\S+)$", unit, re.M))
    assert settings["Restart"] == "always"
    # An LC that fails at start takes about a second of CPU: not more than that every 5 s.
    assert int(settings["RestartSec"]) >= 5
    assert settings["StartLimitIntervalSec"] == "0"


def test_the_container_builds_every_package_and_runs_as_a_user() -> None:
    container = _text("Containerfile")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    for package in pyproject["tool"]["setuptools"]["packages"]:
        folder = package.split(".")[0]  # a subpackage comes with its top-level package's folder
        assert f"COPY {folder} {folder}\n" in container, package
    (user,) = re.findall(r"^USER (\S+)$", container, re.M)
    assert user not in ("root", "0")
    assert re.search(r"^HEALTHCHECK ", container, re.M)


def _promtool(*args: str) -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; scripts/test adds it)")
    done = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_accepts_the_alert_rules() -> None:
    assert "SUCCESS" in _promtool("check", "rules", str(DEPLOY / "ocpp-lc-alerts.yml"))


def test_promtool_accepts_the_scrape_config_with_its_rules() -> None:
    out = _promtool("check", "config", str(DEPLOY / "prometheus.yml"))
    assert "1 rule files found" in out


def _alert_types(alert: str) -> set[str]:
    """The security event types an alert rule's `type=~"..."` matcher names."""
    rules = _text("ocpp-lc-alerts.yml").split("- alert: ")
    (rule,) = [r for r in rules if r.startswith(alert + "\n")]
    (types,) = re.findall(r'type=~"([^"]+)"', rule)
    return set(types.split("|"))


def test_every_critical_security_event_type_has_an_alert() -> None:
    attack, change = _alert_types("OcppLcSecurityAttack"), _alert_types("OcppLcSecurityChange")
    critical = {kind for kind, is_critical in SECURITY_EVENTS.items() if is_critical}
    assert attack | change == critical and not attack & change


def _rule_unit_test(folder: Path, name: str, test: dict[str, object]) -> None:
    """Run one Prometheus rule unit test (input series, expected alerts) over the LC's rules."""
    tests = {
        "rule_files": [str(DEPLOY / "ocpp-lc-alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", **test}],
    }
    unit_test = folder / f"{name}.yml"
    unit_test.write_text(json.dumps(tests), encoding="utf-8")  # JSON is YAML
    assert "SUCCESS" in _promtool("test", "rules", str(unit_test))


def test_the_security_alerts_fire_on_an_attack_and_on_unsent_events(tmp_path: Path) -> None:
    """Prometheus's rule unit test: an InvalidCsmsCertificate pages, a start-up does not;
    unsent critical events alert after 30 minutes."""
    events = "ocpp_lc_security_events_total{job='ocpp-lc'"
    _rule_unit_test(
        tmp_path,
        "security-alerts-test",
        {
            "input_series": [
                {"series": events + ",type='InvalidCsmsCertificate'}", "values": "0 1 1 1"},
                {"series": events + ",type='InvalidMessages'}", "values": "0 5 9 9"},
                {"series": "ocpp_lc_security_events_unsent{job='ocpp-lc'}", "values": "3x40"},
            ],
            "alert_rule_test": [
                {
                    "eval_time": "2m",
                    "alertname": "OcppLcSecurityAttack",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "severity": "critical",
                                "job": "ocpp-lc",
                                "type": "InvalidCsmsCertificate",
                            },
                            "exp_annotations": {
                                "summary": "Security event InvalidCsmsCertificate on the LC: "
                                "the status page lists the last ones, GetLog SecurityLog has "
                                "them all"
                            },
                        }
                    ],
                },
                {"eval_time": "2m", "alertname": "OcppLcSecurityChange", "exp_alerts": []},
                {
                    "eval_time": "20m",
                    "alertname": "OcppLcSecurityEventsUnsent",
                    "exp_alerts": [],
                },
                {
                    "eval_time": "35m",
                    "alertname": "OcppLcSecurityEventsUnsent",
                    "exp_alerts": [
                        {
                            "exp_labels": {"severity": "warning", "job": "ocpp-lc"},
                            "exp_annotations": {
                                "summary": "3 critical security events have waited over 30 "
                                "min for the CSMS's acknowledgement: the LC's own link is "
                                "down or the CSMS refuses them"
                            },
                        }
                    ],
                },
            ],
        },
    )


def test_the_loop_lag_alert_fires_on_a_lagging_lc_only(tmp_path: Path) -> None:
    """Prometheus's rule unit test: of two LCs probing their loop 600 times a minute, the one
    whose probes ran over 0.25 s late 20 times a minute alerts after 10 minutes; the other,
    never over 0.1 s late, does not."""
    lag = "ocpp_lc_event_loop_lag_seconds_bucket{job='ocpp-lc'"
    within = {"steady": "0+600x30", "lagging": "0+580x30"}  # probes within 0.1 s and 0.25 s
    _rule_unit_test(
        tmp_path,
        "loop-lag-alert-test",
        {
            "input_series": [
                {"series": f"{lag},instance='{lc}',le='{le}'}}", "values": values}
                for lc, probes in within.items()
                for le, values in (("0.1", probes), ("0.25", probes), ("+Inf", "0+600x30"))
            ],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "OcppLcEventLoopLagging", "exp_alerts": []},
                {
                    "eval_time": "20m",
                    "alertname": "OcppLcEventLoopLagging",
                    "exp_alerts": [
                        {
                            "exp_labels": {
                                "severity": "warning",
                                "job": "ocpp-lc",
                                "instance": "lagging",
                            },
                            "exp_annotations": {
                                "summary": "The LC's event loop ran over 100 ms late in 1 % "
                                "of its probes for 10 min: every charger's answers wait as "
                                "long (starved of CPU, or loaded beyond its performance "
                                "envelope)"
                            },
                        }
                    ],
                },
            ],
        },
    )
