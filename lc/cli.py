"""Command line: `run`, `check-config`, `health`, `csr` (each `--config FILE`), `demo`,
`journal ...`, `--version`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any

from certificates.server_csr import CsrError, write_server_request
from config_file.table import ConfigError
from lc import journal_cli
from lc.app import LocalController
from lc.config import SiteConfig, load_config, state_paths
from lc.health import check_health
from lc.launch_decisions import RESTART_EXIT_CODE
from lc.launcher import Launcher, run_arguments
from lc.serve import ShutdownOverrun, serve_until_signalled
from router.start_error import StartError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Loggers of libraries that log every frame at INFO (the demo's simulated garage uses `ocpp`).
CHATTY_LIBRARIES = ("ocpp",)


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop  # the fastest loop for aiohttp here; plain asyncio works too

        uvloop.run(main)
    except ImportError:
        asyncio.run(main)


def _version() -> str:
    try:
        return metadata.version("ocpp-local-controller")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpp-lc", description="OCPP Local Controller")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    log_level: dict[str, Any] = {
        "type": str.upper,
        "choices": LOG_LEVELS,
        "help": "default: INFO; the demo: WARNING",
    }
    parser.add_argument("--log-level", default=None, **log_level)
    # Also accepted after the subcommand; there it must not reset a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default=argparse.SUPPRESS, **log_level)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", parents=[common], help="run the LC with a site config")
    run.add_argument("--config", type=Path, required=True, help="the site config file (TOML)")
    run.add_argument(
        "--launched",
        action="store_true",
        help="run by `ocpp-lc launch`: the LC may install a release and restart into it",
    )
    launch = commands.add_parser(
        "launch",
        parents=[common],
        help="run the LC, start it again after a Reset, roll back a release that fails",
    )
    launch.add_argument("--config", type=Path, required=True, help="the site config file (TOML)")
    check = commands.add_parser(
        "check-config", parents=[common], help="validate a site config and exit"
    )
    check.add_argument("--config", type=Path, required=True)
    health = commands.add_parser(
        "health", parents=[common], help="exit 0 if the LC of this config answers on /metrics"
    )
    health.add_argument("--config", type=Path, required=True)
    csr = commands.add_parser(
        "csr",
        parents=[common],
        help="write a new key and a request for the LC's server certificate, for a site CA",
    )
    csr.add_argument("--config", type=Path, required=True)
    csr.add_argument("--out", type=Path, required=True, help="the folder to write both into")
    demo = commands.add_parser(
        "demo", parents=[common], help="a whole simulated garage on this machine"
    )
    demo.add_argument("--duration", type=float, default=0, help="seconds to run (0 = until ^C)")
    demo.add_argument(
        "-v", "--verbose", action="store_true", help="also the LC's INFO log, not only warnings"
    )
    journal_cli.add_parser(commands)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = args.log_level
    if level is None:
        quiet_demo = args.command == "demo" and not args.verbose
        level = "WARNING" if quiet_demo else "INFO"
    logging.basicConfig(level=level, format=LOG_FORMAT)
    if logging.getLogger().level > logging.DEBUG:
        for name in CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)


def _write_csr(config: SiteConfig, out: Path) -> int:
    if config.certificates is None:
        print("config error: certificates: the section is needed for a request", file=sys.stderr)
        return 2
    try:
        written = write_server_request(config.certificates, out)
    except CsrError as exc:
        print(f"cannot write the request: {exc}", file=sys.stderr)
        return 2
    print(f"key (keep it here, readable by the LC only): {written.key_path}")
    print(f"request for the site CA: {written.csr_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args)
    if args.command == "demo":
        from lc.demo import run_demo

        _run_loop(run_demo(args.duration))
        return 0
    if args.command == "journal":
        return journal_cli.run(args)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        for warning in config.balancer.warnings if config.balancer else ():
            print(f"warning: {warning}", file=sys.stderr)
        print(f"{args.config}: OK")
        for key, path in state_paths(config):
            print(f"{key} = {path}")
        return 0
    if args.command == "csr":
        return _write_csr(config, args.out)
    if args.command == "health":
        problem = check_health(config.metrics)
        if problem is not None:
            print(f"unhealthy: {problem}", file=sys.stderr)
            return 1
        return 0
    if args.command == "launch":
        return Launcher(config, run_arguments(args.config, args.log_level)).run()
    controller = LocalController(config, args.config, args.launched)
    try:
        _run_loop(serve_until_signalled(controller))
    except StartError as exc:
        # A port in use, a journal that cannot be opened: the key and what, not a traceback.
        # Everything opened so far is closed by then.
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    except ShutdownOverrun as exc:
        # Something still open (a worker thread) would keep the process alive: leave now.
        print(f"stopped uncleanly: {exc}", file=sys.stderr, flush=True)
        os._exit(1)
    return RESTART_EXIT_CODE if controller.restart_requested.is_set() else 0
