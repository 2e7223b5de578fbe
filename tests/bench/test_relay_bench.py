"""Relay benchmark, in one run: chargers -> (direct | nginx | bare | raw | lean | sansio | LC)
-> CSMS.

The bare relay (aiohttp on uvloop pumping text, nothing else) is the floor under any hop built
on the LC's stack: it separates what the LC's own work costs from what the stack costs. The raw
relay (asyncio Protocols on uvloop, frames written through from the read callback, text
unmasked and decoded) is the leanest Python design: the floor under any Python hop. The lean
relay is the raw relay doing the LC's own OCPP work on every frame right after writing it (the
LC's sans-I/O session routes, validates, observes and counts it): what the LC would cost on
the leanest data path Python allows. The sansio
relay is that design as a real WebSocket endpoint on both sides (asyncio Protocols driving
websockets' sans-I/O ServerProtocol and ClientProtocol, text decoded and re-framed): what the
protocol work of a Protocol-based LC costs per frame.

Every point is measured for the seven scenarios, repeated REPS times with the scenarios
interleaved (their order rotates each repetition), and reported as medians: a markdown table
printed and written to RELAY_BENCH_OUT (or a fresh temporary directory), with the raw results
and the processes' logs beside it. Targets are reported, never asserted: the machine is shared
and noisy. Only sanity is asserted: every charger connected, no error, no id mismatch, no
frame the LC found invalid.

Run with: scripts/bench  (or: pytest -m bench -s tests/bench/test_relay_bench.py)
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from router.frames import OcppVersion
from router.schemas import default_registry
from tests.bench import relay_load as rl

pytestmark = pytest.mark.bench

REPS = 3
ACTION = "TransactionEvent"
SCENARIOS = ("direct", "nginx", "bare", "raw", "lean", "sansio", "lc")
IDLE_CHARGERS = 2000
IDLE_HOLD_S = 10
PACED_WINDOW = ("--warmup", "3", "--duration", "10")
CLOSED_WINDOW = ("--warmup", "2", "--duration", "8")
LATENCY_RATIO_TARGET = 1.5  # LC-added / nginx-added latency, p50 and p99
THROUGHPUT_TARGET = 0.60  # LC / nginx round trips/s at saturation
IDLE_RSS_TARGET_KIB = 1 << 20  # 1 GiB
PYTHON_RELAYS = ("bare", "raw", "lean", "sansio")  # the target table's reference columns, in order


@dataclass(frozen=True)
class Point:
    mode: str  # "paced" or "closed"
    chargers: int
    rate: float | None = None

    @property
    def label(self) -> str:
        if self.mode == "paced":
            assert self.rate is not None
            return f"paced {self.chargers:,} × {self.rate / self.chargers:g} CALL/s"
        return f"saturation {self.chargers:,}"

    def args(self) -> list[str]:
        args = ["--chargers", str(self.chargers), "--action", ACTION]
        if self.mode == "paced":
            assert self.rate is not None
            return [*args, "--rate", str(self.rate), *PACED_WINDOW]
        return [*args, *CLOSED_WINDOW]


PACED_100 = Point("paced", 100, 100)
PACED_1000 = Point("paced", 1000, 1000)
CLOSED_100 = Point("closed", 100)
CLOSED_1000 = Point("closed", 1000)
POINTS = (PACED_100, PACED_1000, CLOSED_100, CLOSED_1000)

Results = dict[tuple[Point, str], list[dict[str, Any]]]


# -- running -----------------------------------------------------------------------------------


def _output_dir() -> Path:
    chosen = os.environ.get("RELAY_BENCH_OUT")
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="relay-bench-"))


def _check_frames_are_schema_valid() -> None:
    """The LC's validator must do its full work: every frame of the bench conforms."""
    registry = default_registry()
    for action, payload in rl.PAYLOADS.items():
        assert registry.check(OcppVersion.V201, action, True, payload(0)) is None
        answer = json.loads(rl.CALL_RESULT)
        assert registry.check(OcppVersion.V201, action, False, answer) is None


def _assert_sane(result: dict[str, Any], chargers: int, what: str) -> None:
    assert result["connected"] == chargers, f"{what}: only {result['connected']} connected"
    assert result["errors"] == 0, f"{what}: {result['errors']} errors"
    assert result["mismatches"] == 0, f"{what}: {result['mismatches']} id mismatches"


def _rotated(rep: int) -> tuple[str, ...]:
    shift = rep % len(SCENARIOS)
    return SCENARIOS[shift:] + SCENARIOS[:shift]


def _run_point(
    point: Point, scenario: str, hops: dict[str, rl.Service], csms: rl.Service
) -> dict[str, Any]:
    hop = hops.get(scenario)
    pids = {"csms": csms.pids} | ({"hop": hop.pids} if hop else {})
    url = (hop or csms).url
    result = rl.run_client(url, pids, *point.args())
    what = f"{point.label} / {scenario}"
    _assert_sane(result, point.chargers, what)
    assert result["round_trips"] > 0, f"{what}: no round trip"
    if scenario == "lc":
        rl.wait_lc_drained(hops["lc"])
    print(f"  {what}: {result['rps']:,.0f} rt/s p50 {result['p50_us']:,.0f} µs", flush=True)
    return result


def _run_idle(workdir: Path, csms: rl.Service, rep: int) -> dict[str, Any]:
    """A fresh LC holding IDLE_CHARGERS idle chargers for IDLE_HOLD_S."""
    with rl.start_lc(workdir, csms.port, label=f"lc-idle-{rep}") as lc:
        result = rl.run_client(
            lc.url,
            {"hop": lc.pids, "csms": csms.pids},
            *("--chargers", str(IDLE_CHARGERS), "--idle", str(IDLE_HOLD_S)),
        )
        _assert_sane(result, IDLE_CHARGERS, "idle")
        accepted = rl.lc_metrics(lc).get("ocpp_lc_charger_connections_total", 0)
        assert accepted == IDLE_CHARGERS, f"idle: the LC accepted {accepted} chargers"
    print(f"  idle {IDLE_CHARGERS:,}: LC RSS {result['rss_kib']['hop'] / 1024:,.0f} MiB")
    return result


def _assert_lc_clean(lc: rl.Service) -> None:
    metrics = rl.lc_metrics(lc)
    assert metrics.get("ocpp_lc_invalid_messages_total", 0) == 0, "the LC saw invalid frames"
    failures = metrics.get("ocpp_lc_upstream_connect_failures_total", 0)
    assert failures == 0, "the LC failed to reach the CSMS"
    assert metrics.get("ocpp_lc_messages_total", 0) > 0


@contextlib.contextmanager
def _hops(workdir: Path) -> Iterator[tuple[rl.Service, dict[str, rl.Service]]]:
    with (
        rl.start_csms(workdir) as csms,
        rl.start_nginx(workdir, csms.port) as nginx,
        rl.start_python_relay("bare", workdir, csms.port) as bare,
        rl.start_python_relay("raw", workdir, csms.port) as raw,
        rl.start_python_relay("lean", workdir, csms.port) as lean,
        rl.start_python_relay("sansio", workdir, csms.port) as sansio,
        rl.start_lc(workdir, csms.port) as lc,
    ):
        for hop in (bare, raw, lean, sansio, lc):
            assert rl.maps_mention(hop.process.pid, "uvloop"), f"{hop.name} does not run on uvloop"
        hops = {"nginx": nginx, "bare": bare, "raw": raw, "lean": lean, "sansio": sansio}
        yield csms, {**hops, "lc": lc}


# -- reporting ---------------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(run[key]) for run in runs)


def _cpu_pct(runs: list[dict[str, Any]], name: str) -> str:
    if name not in runs[0]["cpu_s"]:
        return "-"
    return f"{statistics.median(r['cpu_s'][name] / r['seconds'] * 100 for r in runs):.0f}"


def _other_cpu_pct(runs: list[dict[str, Any]]) -> float:
    """Busy CPU outside the bench's processes: other load on the machine, and softirqs."""
    other = statistics.median(
        float((run["machine_busy_s"] - sum(run["cpu_s"].values())) / run["seconds"] * 100)
        for run in runs
    )
    return max(other, 0.0)  # procfs readings are not atomic: a few % either way is noise


def _hop_us_per_rt(runs: list[dict[str, Any]]) -> float | None:
    if "hop" not in runs[0]["cpu_s"]:
        return None
    return statistics.median(float(r["cpu_s"]["hop"] / r["round_trips"] * 1e6) for r in runs)


def _added(results: Results, point: Point, scenario: str, key: str) -> float:
    return _median(results[point, scenario], key) - _median(results[point, "direct"], key)


def _load_row(results: Results, point: Point, scenario: str) -> str:
    runs = results[point, scenario]
    rps = [run["rps"] for run in runs]
    added = "| - | - "
    if scenario != "direct":
        p50, p99 = (_added(results, point, scenario, key) for key in ("p50_us", "p99_us"))
        added = f"| {p50:+,.0f} | {p99:+,.0f} "
    hop_cpu = _hop_us_per_rt(runs)
    hop_rss = "-"
    if "hop" in runs[0]["rss_kib"]:
        hop_rss = f"{statistics.median(run['rss_kib']['hop'] for run in runs) / 1024:.1f}"
    cpu = " / ".join(_cpu_pct(runs, name) for name in ("client", "hop", "csms"))
    cpu += f" / {_other_cpu_pct(runs):.0f}"
    return (
        f"| {point.label} | {scenario} | {_median(runs, 'p50_us'):,.0f} "
        f"| {_median(runs, 'p99_us'):,.0f} {added}"
        f"| {statistics.median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) | {cpu} "
        f"| {'-' if hop_cpu is None else f'{hop_cpu:.1f}'} | {hop_rss} |"
    )


def _load_table(results: Results) -> list[str]:
    lines = [
        "| load | scenario | p50 µs | p99 µs | added p50 µs | added p99 µs "
        "| round trips/s (min–max) | CPU % client / hop / CSMS / other | hop CPU µs per round trip "
        "| hop RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for point in POINTS:
        lines += [_load_row(results, point, scenario) for scenario in SCENARIOS]
    return lines


def _verdict(met: bool) -> str:
    return "target met" if met else "target missed"


def _latency_target(results: Results, point: Point, key: str) -> str:
    nginx = _added(results, point, "nginx", key)

    def versus_nginx(hop: str) -> tuple[float, str]:
        added = _added(results, point, hop, key)
        return added, "n/a" if nginx <= 0 else f"{added / nginx:.2f}×"

    (lc, lc_ratio), *relays = map(versus_nginx, ("lc", *PYTHON_RELAYS))
    limit = "-"
    verdict = "-"
    if point == PACED_1000:
        limit = f"≤ {LATENCY_RATIO_TARGET:g}×"
        verdict = _verdict(nginx > 0 and lc / nginx <= LATENCY_RATIO_TARGET)
    return (
        f"| {point.label}: added {key.removesuffix('_us')} | {lc:+,.0f} µs | {nginx:+,.0f} µs "
        f"| {lc_ratio} | {' | '.join(f'{added:+,.0f} µs ({ratio})' for added, ratio in relays)} "
        f"| {limit} | {verdict} |"
    )


def _throughput_target(results: Results, point: Point) -> str:
    lc, nginx, *relays = (
        _median(results[point, hop], "rps") for hop in ("lc", "nginx", *PYTHON_RELAYS)
    )
    ratio = lc / nginx
    return (
        f"| {point.label}: round trips/s | {lc:,.0f} | {nginx:,.0f} | {ratio:.0%} "
        f"| {' | '.join(f'{relay:,.0f} ({relay / nginx:.0%})' for relay in relays)} "
        f"| ≥ {THROUGHPUT_TARGET:.0%} | {_verdict(ratio >= THROUGHPUT_TARGET)} |"
    )


def _idle_numbers(idle: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Median LC RSS before and with the idle chargers (KiB), and KiB per charger."""
    before = statistics.median(run["rss_before_kib"]["hop"] for run in idle)
    after = statistics.median(run["rss_kib"]["hop"] for run in idle)
    per_charger = statistics.median(
        (run["rss_kib"]["hop"] - run["rss_before_kib"]["hop"]) / IDLE_CHARGERS for run in idle
    )
    return before, after, per_charger


def _target_table(results: Results, idle: list[dict[str, Any]]) -> list[str]:
    relays = "".join(f"| {relay} relay (/ nginx) " for relay in PYTHON_RELAYS)
    lines = [
        f"| LC vs nginx | LC | nginx | LC / nginx {relays}| target | verdict |",
        "|---" * (6 + len(PYTHON_RELAYS)) + "|",
    ]
    for point in (PACED_100, PACED_1000):
        lines += [_latency_target(results, point, key) for key in ("p50_us", "p99_us")]
    lines += [_throughput_target(results, point) for point in (CLOSED_100, CLOSED_1000)]
    _before, after, per_charger = _idle_numbers(idle)
    lines.append(
        f"| {IDLE_CHARGERS:,} idle chargers: LC RSS | {after / 1024:,.0f} MiB "
        f"({per_charger:.1f} KiB per charger) | - | - {'| - ' * len(PYTHON_RELAYS)}| < 1 GiB "
        f"| {_verdict(after < IDLE_RSS_TARGET_KIB)} |"
    )
    return lines


def _idle_table(idle: list[dict[str, Any]]) -> list[str]:
    before, after, per_charger = _idle_numbers(idle)
    csms_per_charger = statistics.median(
        (run["rss_kib"]["csms"] - run["rss_before_kib"]["csms"]) / IDLE_CHARGERS for run in idle
    )
    return [
        "| idle chargers | LC RSS before → with them (MiB) | LC KiB per charger "
        "| fake CSMS KiB per charger |",
        "|---|---|---|---|",
        f"| {IDLE_CHARGERS:,} | {before / 1024:,.1f} → {after / 1024:,.1f} | {per_charger:.1f} "
        f"| {csms_per_charger:.1f} |",
    ]


def _header() -> list[str]:
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("aiohttp", "uvloop", "websockets", "jsonschema")
    )
    frame = len('[2,"' + rl.message_id(0, 0) + rl.call_frame_tail(ACTION, 0))
    return [
        f"# Relay benchmark ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"- {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, {versions}; nginx {rl.nginx_version()} (1 worker).",
        f"- Chargers send OCPP 2.0.1 {ACTION} CALLs ({frame} B frames) on ocpp2.0.1; the fake "
        f"CSMS answers `{rl.CALL_RESULT}`. LC (`python -m lc run`): uvloop, "
        "ping 30 s, validation observe both ways.",
        f"- Medians of {REPS} interleaved repetitions; added = hop median − direct median. "
        "Paced windows 3 s warmup + 10 s, saturation (closed loop) 2 s + 8 s. "
        "CPU in % of one core; hop CPU per round trip covers 2 relayed frames; other = "
        "the machine's busy CPU outside the bench's processes (other load, softirqs).",
        "",
    ]


def _report(results: Results, idle: list[dict[str, Any]]) -> str:
    lines = _header()
    lines += ["## Load", "", *_load_table(results), ""]
    lines += [f"## Idle memory (fresh LC, {IDLE_HOLD_S} s hold)", "", *_idle_table(idle), ""]
    lines += ["## Targets", "", *_target_table(results, idle), ""]
    return "\n".join(lines)


# -- the benchmark -----------------------------------------------------------------------------


@pytest.mark.timeout(1800)
def test_relay_bench() -> None:
    rl.raise_nofile_limit()
    _check_frames_are_schema_valid()
    workdir = _output_dir()
    results: Results = {}
    idle: list[dict[str, Any]] = []
    raw_runs = (workdir / "results.jsonl").open("a")
    with raw_runs, _hops(workdir) as (csms, hops):
        for rep in range(REPS):
            print(f"repetition {rep + 1}/{REPS}", flush=True)
            for point in POINTS:
                for scenario in _rotated(rep):
                    result = _run_point(point, scenario, hops, csms)
                    results.setdefault((point, scenario), []).append(result)
                    record = {"rep": rep, "point": point.label, "scenario": scenario}
                    raw_runs.write(json.dumps(record | result) + "\n")
            idle.append(_run_idle(workdir, csms, rep))
            raw_runs.write(json.dumps({"rep": rep, "point": "idle", "scenario": "lc"} | idle[-1]))
            raw_runs.write("\n")
        _assert_lc_clean(hops["lc"])
    report = _report(results, idle)
    (workdir / "relay-bench.md").write_text(report)
    print("\n" + report, flush=True)
    print(f"results, raw runs and logs: {workdir}", file=sys.stderr, flush=True)
