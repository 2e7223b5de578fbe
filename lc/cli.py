"""Command line: `run --config FILE`, `check-config --config FILE`, `demo`, `journal ...`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from lc import journal_cli
from lc.app import LocalController, serve_until_signalled
from lc.config import load_config
from router.config_reader import ConfigError
from router.journal import JournalError


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop  # the fastest loop for aiohttp here; plain asyncio works too

        uvloop.run(main)
    except ImportError:
        asyncio.run(main)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpp-lc", description="OCPP Local Controller")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the Local Controller with a site config")
    run.add_argument("--config", type=Path, required=True, help="the site config file (TOML)")
    check = commands.add_parser("check-config", help="validate a site config and exit")
    check.add_argument("--config", type=Path, required=True)
    demo = commands.add_parser("demo", help="a whole simulated garage on this machine")
    demo.add_argument("--duration", type=float, default=0, help="seconds to run (0 = until ^C)")
    journal_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
        print(f"{args.config}: OK")
        return 0
    try:
        _run_loop(serve_until_signalled(LocalController(config, args.config)))
    except (OSError, sqlite3.Error, JournalError) as exc:
        # A port in use, a journal that cannot be opened: say what, not a traceback.
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
