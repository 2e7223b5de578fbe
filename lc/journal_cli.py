"""`journal list|export|drop`: the site manager's view of what waits for the CSMS.

Safe while the LC runs: the journal is SQLite in WAL mode, this command opens its own
connection and writes only in short transactions (a running LC waits for the write lock at
most for one of them, and never sees half of one).

- list: per charger, how many messages wait, the oldest one's time and their size.
- export: one charger's backlog as JSON lines, what a CSMS operator needs to import it by hand.
- drop: forget exactly the entries of an export file, and only with --confirm. Entries
  journaled after the export stay, so nothing is dropped that was not exported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from config_file.table import ConfigError
from lc.config import load_config
from router.journal import Journal, JournalEntry

Command = Callable[[Journal, argparse.Namespace], Awaitable[int]]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    journal = commands.add_parser(
        "journal", help="list, export or drop what the journal keeps for the CSMS"
    )
    actions = journal.add_subparsers(dest="journal_command", required=True)
    listing = actions.add_parser("list", help="backlogs per charger: count, oldest, size")
    listing.add_argument("--config", type=Path, required=True)
    export = actions.add_parser("export", help="one charger's backlog as JSON lines")
    export.add_argument("--config", type=Path, required=True)
    export.add_argument("--charger", required=True, help="the charger's identity")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    drop = actions.add_parser("drop", help="forget the entries of an export file")
    drop.add_argument("--config", type=Path, required=True)
    drop.add_argument("--charger", required=True, help="the charger's identity")
    drop.add_argument("--exported", type=Path, required=True, help="the file export wrote")
    drop.add_argument(
        "--confirm", action="store_true", help="yes: the CSMS will never get these messages"
    )


def run(args: argparse.Namespace) -> int:
    try:
        path = _journal_path(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if not path.exists():
        print(f"no journal at {path} ([router.offline] journal_path)", file=sys.stderr)
        return 1
    commands: dict[str, Command] = {"list": _list, "export": _export, "drop": _drop}
    command = commands[args.journal_command]
    return asyncio.run(_with_journal(path, command, args))


def _journal_path(config: Path) -> Path:
    hold = load_config(config).router.hold
    if hold is None:
        raise ConfigError('router.connection_loss: "close" keeps no journal')
    return hold.journal_path


async def _with_journal(path: Path, command: Command, args: argparse.Namespace) -> int:
    journal = await Journal.open(path)
    try:
        return await command(journal, args)
    finally:
        await journal.close()


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


async def _list(journal: Journal, _args: argparse.Namespace) -> int:
    summaries = await journal.backlog_summaries()
    if not summaries:
        print("nothing waits for the CSMS")
        return 0
    print(f"{'charger':<24} {'messages':>8}  {'oldest (UTC)':<25} {'bytes':>10}")
    for identity, summary in summaries.items():
        oldest = _utc(summary.oldest)
        print(f"{identity:<24} {summary.count:>8}  {oldest:<25} {summary.size_bytes:>10}")
    return 0


async def _export(journal: Journal, args: argparse.Namespace) -> int:
    entries = await journal.pending(args.charger)
    if args.output is None:
        _write_lines(sys.stdout, args.charger, entries)
    else:
        with args.output.open("x", encoding="utf-8") as output:  # never over another export
            _write_lines(output, args.charger, entries)
    print(f"{args.charger}: {len(entries)} messages exported", file=sys.stderr)
    return 0


def _write_lines(output: TextIO, identity: str, entries: list[JournalEntry]) -> None:
    for entry in entries:
        line = {
            "charger": identity,
            "seq": entry.seq,
            "journaled_at": _utc(entry.appended_at),
            # 1.6: the transactionId the LC answered a StartTransaction with (negative).
            "provisional_transaction_id": entry.provisional_transaction_id,
            "frame": json.loads(entry.text),  # [2, message id, action, payload] as sent
        }
        output.write(json.dumps(line, ensure_ascii=False) + "\n")


async def _drop(journal: Journal, args: argparse.Namespace) -> int:
    try:
        seqs = _exported_seqs(args.exported, args.charger)
    except (OSError, ValueError) as exc:
        print(f"cannot read the export {args.exported}: {exc}", file=sys.stderr)
        return 1
    if not args.confirm:
        print(
            f"{args.charger}: would drop {len(seqs)} exported messages the CSMS has not "
            "received; add --confirm to drop them",
            file=sys.stderr,
        )
        return 2
    dropped = await journal.drop(args.charger, seqs)
    left = len(await journal.pending(args.charger))
    print(f"{args.charger}: {dropped} messages dropped, {left} not exported kept")
    return 0


def _exported_seqs(exported: Path, identity: str) -> list[int]:
    seqs = []
    for number, text in enumerate(exported.read_text(encoding="utf-8").splitlines(), 1):
        line = json.loads(text)
        if not isinstance(line, dict) or line.get("charger") != identity:
            raise ValueError(f"line {number} is not an export of {identity}")
        seq = line.get("seq")
        if not isinstance(seq, int):
            raise ValueError(f"line {number} has no seq")
        seqs.append(seq)
    return seqs
