"""CPU per relayed round trip of two versions of the LC and nginx, interleaved in one run.

The relay benchmark (test_relay_bench.py) measures one LC; a change to the data path is judged
against the version before it on the same machine at the same time. This starts nginx, the LC
of this tree and the LC of another checkout (`--baseline DIR`, e.g. `git worktree add DIR
main`) in front of one fake CSMS, then takes each point for each hop in rotating order, REPS
times, and prints CPU µs per relayed round trip (from /proc) with medians, spreads and the
ratios to nginx's median. Nothing is asserted.

Run with: python -m tests.bench.compare_lc --baseline DIR [--reps 5]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.bench import relay_load as rl

WARMUP_S = "8"
POINTS = {
    "1,000 chargers × 1 CALL/s": ["--rate", "1000", "--duration", "10"],
    "saturation, 1,000 chargers": ["--duration", "8"],
}
COMMON = ["--chargers", "1000", "--action", "TransactionEvent", "--warmup", WARMUP_S]


@contextlib.contextmanager
def lc_from(tree: Path, workdir: Path, csms_port: int, label: str) -> Iterator[rl.Service]:
    """The LC of the checkout at `tree` (its processes run from there)."""
    ours = rl.REPO
    rl.REPO = tree
    try:
        with rl.start_lc(workdir, csms_port, label=label) as lc:
            rl.REPO = ours
            yield lc
    finally:
        rl.REPO = ours


def _row(name: str, values: list[float], reference: float) -> str:
    ratios = [value / reference for value in values]
    return (
        f"  {name:8} {statistics.median(values):6.1f} µs ({min(values):.1f}–{max(values):.1f})"
        f"  {statistics.median(ratios):4.2f}× nginx ({min(ratios):.2f}–{max(ratios):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other LC's checkout")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    rl.raise_nofile_limit()
    us: dict[tuple[str, str], list[float]] = {}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="compare-lc-")))
        csms = stack.enter_context(rl.start_csms(workdir))
        hops = {
            "nginx": stack.enter_context(rl.start_nginx(workdir, csms.port)),
            "baseline": stack.enter_context(
                lc_from(args.baseline.resolve(), workdir, csms.port, "lc-baseline")
            ),
            "this": stack.enter_context(lc_from(rl.REPO, workdir, csms.port, "lc-this")),
        }
        names = list(hops)
        for rep in range(args.reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for point, point_args in POINTS.items():
                for name in order:
                    hop = hops[name]
                    pids = {"csms": csms.pids, "hop": hop.pids}
                    result = rl.run_client(hop.url, pids, *COMMON, *point_args)
                    if name != "nginx":
                        rl.wait_lc_drained(hop)
                    value = result["cpu_s"]["hop"] / result["round_trips"] * 1e6
                    us.setdefault((point, name), []).append(value)
                    print(f"rep {rep} {point} / {name}: {value:.1f} µs", flush=True)
    for point in POINTS:
        print(point)
        reference = statistics.median(us[point, "nginx"])
        for name in names:
            print(_row(name, us[point, name], reference))


if __name__ == "__main__":
    main()
