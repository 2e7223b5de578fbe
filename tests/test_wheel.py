"""The wheel, installed into a fresh virtualenv outside the checkout, runs as the appliance.

A container (deploy/Containerfile) installs the same wheel: what works here works there.
Nothing of the checkout is importable in that virtualenv, so schemas and every other runtime
file must come from the wheel's package data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.lc_process import REPO, free_port, start_lc, wait_listening
from tests.peers import Csms, connect_charge_point

# What a wheel is built from (the packages pyproject.toml lists): everything else in the
# checkout must not matter.
PACKAGES = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
# A subpackage ("lc.status_page") comes with its top-level package's folder.
SOURCES = ("pyproject.toml", "README.md", *dict.fromkeys(name.split(".")[0] for name in PACKAGES))
INSTALL_TIMEOUT_S = 400  # the dependencies come from the package registry (or pip's cache)


def _run(*command: str | Path, cwd: Path) -> str:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; returns its bin folder."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(REPO / name, source / name)
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        root / "dist",
        ".",
        cwd=source,
    )
    (wheel,) = (root / "dist").glob("ocpp_local_controller-*.whl")
    _run(sys.executable, "-m", "venv", root / "venv", cwd=root)
    _run(root / "venv" / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=root)
    return root / "venv" / "bin"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site folder outside the checkout, the caller's directory for a relative --config."""
    return tmp_path


def _config(upstream: str, port: int, metrics_port: int) -> str:
    return f"""
[router]
upstream_url = "{upstream}"
listen_host = "127.0.0.1"
listen_port = {port}

[router.offline]
journal_path = "journal.sqlite"

[metrics]
listen_host = "127.0.0.1"
listen_port = {metrics_port}
"""


@pytest.mark.timeout(INSTALL_TIMEOUT_S * 2)
def test_the_installed_package_is_not_the_checkout(installed: Path, site: Path) -> None:
    where = _run(
        installed / "python", "-c", "import router.schemas as s; print(s.__file__)", cwd=site
    )
    assert not Path(where.strip()).is_relative_to(REPO)
    assert _run(installed / "ocpp-lc", "--version", cwd=site).startswith("ocpp-lc 0.1.0")


@pytest.mark.timeout(INSTALL_TIMEOUT_S * 2)
async def test_check_config_and_run_from_the_wheel(
    installed: Path, site: Path, csms: Csms, state_directory: Path
) -> None:
    port, metrics_port = free_port(), free_port()
    (site / "site.toml").write_text(_config(csms.url, port, metrics_port), encoding="utf-8")
    program = (str(installed / "ocpp-lc"),)
    # A relative --config from the caller's directory, a relative journal path from the state
    # directory ($STATE_DIRECTORY, as systemd gives it).
    check = await start_lc("check-config", "--config", "site.toml", program=program, cwd=site)
    out, err = await asyncio.wait_for(check.communicate(), 60)
    assert check.returncode == 0, err.decode()
    assert out.decode().splitlines()[:3] == [
        "site.toml: OK",
        f"state_directory = {state_directory}",
        f"router.offline.journal_path = {state_directory / 'journal.sqlite'}",
    ]

    process = await start_lc("run", "--config", "site.toml", program=program, cwd=site)
    try:
        await wait_listening(port)
        charger = await connect_charge_point(f"ws://127.0.0.1:{port}", "CP-WHEEL", "ocpp2.0.1")
        # The schemas came with the wheel: the LC validated and relayed the boot.
        assert (await charger.cp.boot()).status == "Accepted"
        assert csms.stations["CP-WHEEL"] is not None
        await charger.close()
        # The container's HEALTHCHECK: healthy while the LC answers where the config says.
        health = await start_lc("health", "--config", "site.toml", program=program, cwd=site)
        _out, err = await asyncio.wait_for(health.communicate(), 60)
        assert health.returncode == 0, err.decode()
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert (state_directory / "journal.sqlite").exists()
    health = await start_lc("health", "--config", "site.toml", program=program, cwd=site)
    _out, err = await asyncio.wait_for(health.communicate(), 60)
    assert health.returncode == 1
    assert err.decode().startswith(f"unhealthy: http://127.0.0.1:{metrics_port}/metrics: ")


@pytest.mark.timeout(INSTALL_TIMEOUT_S * 2)
def test_the_demo_runs_from_the_wheel(installed: Path, site: Path) -> None:
    out = _run(installed / "ocpp-lc", "demo", "--duration", "3", cwd=site)
    assert out.startswith("status page: open http://127.0.0.1:")
    site_lines = [line for line in out.splitlines() if line.startswith("t=")]
    assert len(site_lines) >= 2 and all(" L1 " in line for line in site_lines)


@pytest.mark.timeout(INSTALL_TIMEOUT_S * 2)
def test_systemd_accepts_the_unit_with_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` on deploy/ocpp-lc.service, its /opt/ocpp-lc venv here."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    unit = (REPO / "deploy" / "ocpp-lc.service").read_text(encoding="utf-8")
    assert "/opt/ocpp-lc/bin/" in unit
    copy = tmp_path / "ocpp-lc.service"
    copy.write_text(unit.replace("/opt/ocpp-lc/bin/", f"{installed}/"), encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ocpp-lc.service" not in done.stdout + done.stderr
