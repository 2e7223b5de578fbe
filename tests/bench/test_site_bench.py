"""Fleet benchmarks: a connect storm, ten thousand connected chargers, a replay after an outage.

- Connect storm: STORM_CHARGERS chargers connect at once and boot, straight to the CSMS,
  through nginx and through the LC, plain and with TLS on both hops (nginx terminating TLS from
  the chargers and dialling the CSMS over TLS, as the LC does); the time until every charger
  has its BootNotification answer. Every hop is a fresh process with a fresh journal: the
  storm after a power cut at a site the LC has never seen, its worst case.
- Fleet: FLEET_CHARGERS chargers connected (twice as many sockets in a hop), each sending a
  Heartbeat and a MeterValues every 60 s, the chargers' phases spread evenly; the latency
  added to the direct path at that load, the hop's CPU per message and its RSS.
- Replay: REPLAY_CHARGERS chargers' backlogs of 50 journaled TransactionEvents each, left by an
  outage, delivered by a restarted LC to a CSMS that answers 20 ms late; the total time against
  one charger's backlog replayed alone.

Each scenario repeats REPS times, the hops' order rotating, and reports medians with the
spread (min–max), the ratios to nginx from the same run, and the load generator's own CPU.
Targets are reported, never asserted; only sanity is (every charger answered, no error).

LC_BENCH_QUICK=1 makes a quick try (fewer reps and chargers; marked in the report);
LC_BENCH_REPS overrides the repetitions. Run one with: scripts/bench -k connect_storm
(or -k fleet, -k replay).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench import fleet_load as fl
from tests.bench import relay_load as rl

pytestmark = pytest.mark.bench

QUICK = os.environ.get("LC_BENCH_QUICK") == "1"
REPS = int(os.environ.get("LC_BENCH_REPS", "2" if QUICK else "5"))
STORM_CHARGERS = 1000
FLEET_CHARGERS = 2000 if QUICK else 10_000
FLEET_PERIOD_S = 60.0
FLEET_WINDOW = (
    ("--warmup", "5", "--duration", "20") if QUICK else ("--warmup", "10", "--duration", "60")
)
REPLAY_CHARGERS = 200 if QUICK else 1000
REPLAY_MESSAGES = 50
CSMS_DELAY_MS = 20.0
REPLAY_BUDGET_S = 600.0
STORM_TARGET = 2.0  # LC / nginx time until all booted
FLEET_RSS_TARGET_KIB = 1 << 20  # 1 GiB with 10,000 chargers
REPLAY_TARGET = 1.5  # all backlogs / one charger's alone

Runs = dict[str, list[dict[str, Any]]]


def _output_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("RELAY_BENCH_OUT")
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("fleet-bench")


def _rotated(items: tuple[str, ...], rep: int) -> tuple[str, ...]:
    shift = rep % len(items)
    return items[shift:] + items[:shift]


def _spread(values: list[float], unit: Callable[[float], str]) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return unit(median)
    return f"{unit(median)} ({unit(min(values))}–{unit(max(values))})"


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _tenths(value: float) -> str:
    return f"{value:,.1f}"


def _micros(value: float) -> str:
    return f"{value:,.0f} µs"


def _cpu_pct(run: dict[str, Any], name: str) -> float:
    return float(run["cpu_s"].get(name, 0.0) / run["seconds"] * 100)


def _verdict(met: bool) -> str:
    return "target met" if met else "target missed"


def _mode() -> str:
    return f"{'quick run' if QUICK else 'full run'}, {REPS} repetitions"


def _publish(workdir: Path, name: str, lines: list[str]) -> None:
    report = "\n".join(lines) + "\n"
    (workdir / f"{name}.md").write_text(report)
    print("\n" + report, flush=True)
    print(f"report and logs: {workdir}", flush=True)


# -- connect storm -----------------------------------------------------------------------------


@contextlib.contextmanager
def _storm_hop(
    hop: str, workdir: Path, csms: rl.Service, tls: Path | None, run: str
) -> Iterator[rl.Service | None]:
    if hop == "direct":
        yield None
    elif hop == "nginx":
        with rl.start_nginx(workdir, csms.port, tls) as nginx:
            yield nginx
    else:
        label = "lc-storm-" + run.replace("/", "-")
        with rl.start_lc(workdir, csms.port, label=label, tls=tls) as lc:
            yield lc


def _storm_run(
    hop: str, workdir: Path, csms: rl.Service, tls: Path | None, run: str
) -> dict[str, Any]:
    with _storm_hop(hop, workdir, csms, tls, run) as service:
        port = (service or csms).port
        url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}"
        pids = {"csms": csms.pids} | ({"hop": service.pids} if service else {})
        extra = ["--ca", str(tls / "ca.pem")] if tls else []
        result = fl.run_load("storm", url, pids, "--chargers", str(STORM_CHARGERS), *extra)
    assert result["booted"] == STORM_CHARGERS, f"{run}: {result['first_errors']}"
    assert result["errors"] == 0, f"{run}: {result['first_errors']}"
    print(f"  {run}: all booted in {result['all_booted_s']:.2f} s", flush=True)
    return result


def _storm_report(runs: Runs) -> list[str]:
    lines = [
        f"# Connect storm: {STORM_CHARGERS:,} chargers at once ({_mode()})",
        "",
        "Time from the first dial to the last BootNotification answer; medians (min–max).",
        "",
        "| TLS | hop | all booted | half booted | hop CPU s | load generator CPU % "
        "| CSMS CPU % | hop / nginx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for variant in ("plain", "tls"):
        nginx = statistics.median(r["all_booted_s"] for r in runs[f"{variant}/nginx"])
        for hop in ("direct", "nginx", "lc"):
            results = runs[f"{variant}/{hop}"]
            booted = [r["all_booted_s"] for r in results]
            ratio = statistics.median(booted) / nginx
            hop_cpu = (
                "-" if hop == "direct" else _spread([r["cpu_s"]["hop"] for r in results], _tenths)
            )
            lines.append(
                f"| {variant} | {hop} | {_spread(booted, _seconds)} "
                f"| {_spread([r['p50_s'] for r in results], _seconds)} | {hop_cpu} "
                f"| {statistics.median(_cpu_pct(r, 'client') for r in results):.0f} "
                f"| {statistics.median(_cpu_pct(r, 'csms') for r in results):.0f} "
                f"| {'-' if hop == 'direct' else f'{ratio:.2f}×'} |"
            )
            if hop == "lc":
                verdicts.append(
                    f"- {variant}: LC {ratio:.2f}× nginx's time (target ≤ {STORM_TARGET:g}×): "
                    f"{_verdict(ratio <= STORM_TARGET)}"
                )
    return [*lines, "", *verdicts]


@pytest.mark.timeout(7200)
def test_connect_storm_bench(tmp_path_factory: pytest.TempPathFactory) -> None:
    rl.raise_nofile_limit()
    workdir = _output_dir(tmp_path_factory)
    certificates = workdir / "tls"
    fl.make_certificates(certificates)
    runs: Runs = {}
    with (
        fl.start_csms(workdir) as plain_csms,
        fl.start_csms(workdir, tls=certificates, label="csms-tls") as tls_csms,
    ):
        for rep in range(REPS):
            print(f"repetition {rep + 1}/{REPS}", flush=True)
            for variant in _rotated(("plain", "tls"), rep):
                tls = certificates if variant == "tls" else None
                csms = tls_csms if tls else plain_csms
                for hop in _rotated(("direct", "nginx", "lc"), rep):
                    run = f"{variant}/{hop}"
                    result = _storm_run(hop, workdir, csms, tls, f"{run}-{rep}")
                    runs.setdefault(run, []).append(result)
    _publish(workdir, "connect-storm", _storm_report(runs))


# -- fleet -------------------------------------------------------------------------------------


def _fleet_size() -> int:
    """FLEET_CHARGERS, or fewer where the open-files limit cannot be raised that far (a
    container): a hop holds two sockets per charger, and nginx needs a margin beyond."""
    return min(FLEET_CHARGERS, (rl.open_files_limit() - 2000) // 2)


def _fleet_run(
    hop: str, workdir: Path, csms: rl.Service, rep: int, chargers: int
) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        service: rl.Service | None = None
        lag: tuple[str, ...] = ()  # the LC's event-loop lag in the window, from its /metrics
        if hop == "nginx":
            service = stack.enter_context(rl.start_nginx(workdir, csms.port))
        elif hop == "lc":
            service = stack.enter_context(rl.start_lc(workdir, csms.port, label=f"lc-fleet-{rep}"))
            lag = ("--loop-lag", f"http://127.0.0.1:{service.metrics_port}/metrics")
        pids = {"csms": csms.pids} | ({"hop": service.pids} if service else {})
        result = fl.run_load(
            "fleet",
            (service or csms).url,
            pids,
            *("--chargers", str(chargers), "--period", str(FLEET_PERIOD_S), *FLEET_WINDOW),
            *lag,
        )
    assert result["errors"] == 0, f"{hop}: {result['first_errors']}"
    assert result["round_trips"] > 0, f"{hop}: no round trip measured"
    print(
        f"  {hop}-{rep}: {result['messages_per_s']:,.0f} msg/s p99 {result['p99_us']:,.0f} µs",
        flush=True,
    )
    return result


def _fleet_report(runs: Runs, chargers: int) -> list[str]:
    direct = {
        key: statistics.median(r[key] for r in runs["direct"]) for key in ("p50_us", "p99_us")
    }
    lines = [
        f"# Fleet: {chargers:,} chargers, a Heartbeat and a MeterValues every "
        f"{FLEET_PERIOD_S:g} s each ({_mode()})",
        "",
        "| hop | messages/s | p50 | p99 | added p50 | added p99 | hop CPU µs per message "
        "| hop RSS MiB | hop KiB per charger | connect all (s) | load generator CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    added: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for hop in ("direct", "nginx", "lc"):
        results = runs[hop]
        added[hop] = statistics.median(r["p99_us"] for r in results) - direct["p99_us"]
        per_message = "-"
        rss = per_charger = "-"
        if hop != "direct":
            costs = [r["cpu_s"]["hop"] / r["round_trips"] * 1e6 for r in results]
            cpu[hop] = statistics.median(costs)
            per_message = _spread(costs, _count)
            rss = _spread([r["rss_kib"]["hop"] / 1024 for r in results], _count)
            growth = [r["rss_kib"]["hop"] - r["rss_idle_kib"]["hop"] for r in results]
            per_charger = _spread([kib / chargers for kib in growth], _tenths)
        p50_added = statistics.median(r["p50_us"] for r in results) - direct["p50_us"]
        lines.append(
            f"| {hop} | {_spread([r['messages_per_s'] for r in results], _count)} "
            f"| {_spread([r['p50_us'] for r in results], _micros)} "
            f"| {_spread([r['p99_us'] for r in results], _micros)} "
            f"| {'-' if hop == 'direct' else f'{p50_added:+,.0f} µs'} "
            f"| {'-' if hop == 'direct' else f'{added[hop]:+,.0f} µs'} "
            f"| {per_message} | {rss} | {per_charger} "
            f"| {_spread([r['connect_s'] for r in results], _tenths)} "
            f"| {statistics.median(_cpu_pct(r, 'client') for r in results):.0f} |"
        )
    lc_rss = statistics.median(r["rss_kib"]["hop"] for r in runs["lc"])
    late = ", ".join(
        f"{float(bound) * 1000:g} ms: "
        + _spread([r["loop_lag_beyond"][bound] for r in runs["lc"]], _count)
        for bound in fl.LAG_BOUNDS
    )
    ratio = "n/a" if added["nginx"] <= 0 else f"{added['lc'] / added['nginx']:.2f}×"
    return [
        *lines,
        "",
        f"- LC added p99 {added['lc']:+,.0f} µs vs nginx's {added['nginx']:+,.0f} µs: {ratio}.",
        f"- LC CPU per message {cpu['lc']:,.0f} µs vs nginx's {cpu['nginx']:,.0f} µs: "
        f"{cpu['lc'] / cpu['nginx']:.2f}×.",
        f"- LC event-loop probes (one per 0.1 s) that ran late in the warmup and the window, by "
        f"more than {late} (the reading at the warmup's start stalls the loop itself).",
        f"- LC RSS {lc_rss / 1024:,.0f} MiB with {chargers:,} chargers (target < 1 GiB with "
        f"10,000): {_verdict(lc_rss < FLEET_RSS_TARGET_KIB)}"
        + ("" if chargers >= 10_000 else " at this smaller fleet"),
    ]


@pytest.mark.timeout(14400)
def test_fleet_bench(tmp_path_factory: pytest.TempPathFactory) -> None:
    rl.raise_nofile_limit()
    workdir = _output_dir(tmp_path_factory)
    runs: Runs = {}
    chargers = _fleet_size()
    with fl.start_csms(workdir, label="csms-fleet") as csms:
        for rep in range(REPS):
            print(f"repetition {rep + 1}/{REPS}", flush=True)
            for hop in _rotated(("direct", "nginx", "lc"), rep):
                runs.setdefault(hop, []).append(_fleet_run(hop, workdir, csms, rep, chargers))
    _publish(workdir, "fleet", _fleet_report(runs, chargers))


# -- replay after an outage --------------------------------------------------------------------


def _replay_run(workdir: Path, chargers: int, label: str) -> dict[str, Any]:
    """A restarted LC delivers `chargers` backlogs: the CSMS's view of the replay."""
    journal = workdir / f"{label}-journal.sqlite"
    for stale in workdir.glob(f"{label}-journal.sqlite*"):
        stale.unlink()
    asyncio.run(fl.fill_journal(journal, chargers, REPLAY_MESSAGES))
    expected = {fl.identity(n) for n in range(chargers)}
    with (
        fl.start_csms(workdir, CSMS_DELAY_MS, label=f"csms-{label}") as csms,
        rl.start_lc(workdir, csms.port, label=label, journal=journal) as lc,
    ):
        cpu_before = rl.cpu_seconds(lc.process.pid)
        csms_cpu_before = rl.cpu_seconds(csms.process.pid)
        deadline = time.monotonic() + REPLAY_BUDGET_S
        while True:
            arrivals = fl.csms_arrivals(csms.port)
            if set(arrivals) == expected and all(
                count >= REPLAY_MESSAGES for _, _, count in arrivals.values()
            ):
                break
            assert time.monotonic() < deadline, f"{label}: the replay did not finish"
            time.sleep(0.2)
        lc_cpu = rl.cpu_seconds(lc.process.pid) - cpu_before
        csms_cpu = rl.cpu_seconds(csms.process.pid) - csms_cpu_before
    firsts = [first for first, _, _ in arrivals.values()]
    lasts = [last for _, last, _ in arrivals.values()]
    delay = CSMS_DELAY_MS / 1000  # the last answer leaves the CSMS that much later
    result = {
        "chargers": chargers,
        "total_s": max(lasts) - min(firsts) + delay,
        "longest_charger_s": max(last - first for first, last, _ in arrivals.values()) + delay,
        "replayed": sum(count for _, _, count in arrivals.values()),
        "lc_cpu_s": lc_cpu,
        "csms_cpu_s": csms_cpu,  # the load generator's
    }
    print(f"  {label}: {result['total_s']:.2f} s", flush=True)
    return result


def _replay_report(single: list[dict[str, Any]], fleet: list[dict[str, Any]]) -> list[str]:
    alone = statistics.median(r["total_s"] for r in single)
    total = statistics.median(r["total_s"] for r in fleet)
    per_message = [r["lc_cpu_s"] / r["replayed"] * 1e6 for r in fleet]
    generator = [r["csms_cpu_s"] / r["replayed"] * 1e6 for r in fleet]
    return [
        f"# Replay after an outage: {REPLAY_CHARGERS:,} chargers × {REPLAY_MESSAGES} messages, "
        f"CSMS answering {CSMS_DELAY_MS:g} ms late ({_mode()})",
        "",
        "| backlogs | total | longest charger within the run | messages replayed "
        "| LC CPU µs per replayed message | CSMS (load generator) CPU µs per message |",
        "|---|---|---|---|---|---|",
        f"| 1 charger alone | {_spread([r['total_s'] for r in single], _seconds)} | - "
        f"| {REPLAY_MESSAGES} | - | - |",
        f"| {REPLAY_CHARGERS:,} chargers | {_spread([r['total_s'] for r in fleet], _seconds)} "
        f"| {_spread([r['longest_charger_s'] for r in fleet], _seconds)} "
        f"| {statistics.median(r['replayed'] for r in fleet):,.0f} "
        f"| {_spread(per_message, _micros)} | {_spread(generator, _micros)} |",
        "",
        f"- All backlogs {total / alone:.2f}× one charger's alone (target ≤ {REPLAY_TARGET:g}×): "
        f"{_verdict(total / alone <= REPLAY_TARGET)}.",
    ]


@pytest.mark.timeout(7200)
def test_replay_bench(tmp_path_factory: pytest.TempPathFactory) -> None:
    rl.raise_nofile_limit()
    workdir = _output_dir(tmp_path_factory)
    single: list[dict[str, Any]] = []
    fleet: list[dict[str, Any]] = []
    for rep in range(REPS):
        print(f"repetition {rep + 1}/{REPS}", flush=True)
        for kind in _rotated(("single", "fleet"), rep):
            if kind == "single":
                single.append(_replay_run(workdir, 1, f"lc-replay-single-{rep}"))
            else:
                fleet.append(_replay_run(workdir, REPLAY_CHARGERS, f"lc-replay-{rep}"))
    _publish(workdir, "replay", _replay_report(single, fleet))
