"""Service overhead: what hpsearch adds around sleeping trials, against Optuna and Ray Tune.

Every trial sleeps ``--steps`` x ``--seconds`` (default 10 x 1 s) and reports after every step.
hpsearch runs the full path (``hpsearch run --workers C`` on PostgreSQL: ask under the study
lock, Ray dispatch to long-lived actors, report/should_prune, heartbeats, tell) on the
simulated trainer with pruner ``none``; Optuna runs ``study.optimize(n_jobs=C)`` on the same
PostgreSQL server; Ray Tune runs a function trainable with and without actor reuse. Each
system runs in its own process (see runners.py), on a fresh database.

    python -m benchmarks.service_overhead                  # 20 trials, 2 workers, ~12 minutes
    python -m benchmarks.service_overhead --smoke          # CI: 4 trials of 2 x 0.5 s

overhead = wall / (N * T / C) - 1, with the wall clock taken two ways: from the first trial's
start to the last trial's end (inside the workers), and for the whole command (process start to
exit, Ray start-up included). Idle gap: on one worker, from the end of a trial to the start of
its next one, both taken inside the worker. Prints one markdown table, then the profile of
hpsearch's driver and workers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import fmt, fresh_db, machine, markdown_table, median, percentile, versions


@dataclass(frozen=True)
class System:
    name: str
    runner: str
    extra: tuple[str, ...] = ()
    needs_db: bool = True


SYSTEMS = {
    "hpsearch": System("hpsearch", "hpsearch"),
    "optuna": System("Optuna optimize(n_jobs)", "optuna"),
    "tune": System("Ray Tune, actor reuse", "tune", needs_db=False),
    "tune-noreuse": System("Ray Tune, no actor reuse", "tune", ("--no-reuse",), needs_db=False),
}


def idle_gaps(trials: list[dict[str, Any]], workers: int) -> tuple[list[float], str]:
    """Gaps between consecutive trials on one worker (its own clock).

    Trials are grouped by the worker that ran them; where a worker ran only one trial (Ray Tune
    without actor reuse starts a process per trial), the trials are put on ``workers`` slots
    instead, each trial on the slot that became free last before it started.
    """
    by_worker: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in trials:
        by_worker[str(t["worker"])].append(t)
    if len(by_worker) <= workers:
        gaps = []
        for runs in by_worker.values():
            runs.sort(key=lambda t: t["start"])
            gaps += [b["start"] - a["end"] for a, b in itertools.pairwise(runs)]
        return gaps, "worker"
    slots: list[float] = []
    gaps = []
    for t in sorted(trials, key=lambda t: t["start"]):
        free = [end for end in slots if end <= t["start"] + 1e-3]
        if len(slots) < workers:
            slots.append(t["end"])
            continue
        last = max(free) if free else min(slots)
        gaps.append(t["start"] - last)
        slots[slots.index(last)] = t["end"]
    return gaps, "slot"


def run_system(system: System, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out = work / f"{system.runner}{'-'.join(('', *system.extra))}.json"
    log = out.with_suffix(".log")
    cmd = [sys.executable, "-m", "benchmarks.service_overhead.runners", system.runner]
    cmd += ["--out", str(out)]
    cmd += ["--trials", str(args.trials), "--workers", str(args.workers)]
    cmd += ["--steps", str(args.steps), "--seconds", str(args.seconds)]
    cmd += ["--heartbeat", str(args.heartbeat), *system.extra]
    env = {**os.environ, "RAY_DEDUP_LOGS": "0", "PYTHONUNBUFFERED": "1"}
    with fresh_db("hps_bench_so", args.storage) as url:
        if system.needs_db:
            cmd += ["--storage", url]
        started = time.time()
        with open(log, "w") as handle:
            proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)
        ended = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"{system.name} failed (exit {proc.returncode}); see {log}")
    result = json.loads(out.read_text())
    result["command"] = [started, ended]
    return result


def figures(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    trials = result["trials"]
    work = args.steps * args.seconds
    ideal = args.trials * work / args.workers
    span = max(t["end"] for t in trials) - min(t["start"] for t in trials)
    command = result["command"][1] - result["command"][0]
    gaps, grouping = idle_gaps(trials, args.workers)
    return {
        "n": len(trials),
        "span": span,
        "command": command,
        "overhead": span / ideal - 1,
        "overhead_cmd": command / ideal - 1,
        "per_trial_ms": (span - ideal) / (args.trials / args.workers) * 1000,
        "in_trial_ms": 1000 * (sum(t["end"] - t["start"] for t in trials) / len(trials) - work),
        "gap_median_ms": None if not gaps else 1000 * (median(gaps) or 0.0),
        "gap_p95_ms": None if not gaps else 1000 * (percentile(gaps, 95) or 0.0),
        "grouping": grouping,
    }


def db_gaps(result: dict[str, Any]) -> list[float]:
    """hpsearch from the database: a trial's datetime_complete to the next trial's
    datetime_start (set at ask) on the same ``worker`` user attribute."""
    by_worker: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in result.get("db", []):
        if t["start"] and t["complete"]:
            by_worker[t["worker"]].append(t)
    gaps = []
    for runs in by_worker.values():
        runs.sort(key=lambda t: t["start"])
        gaps += [b["start"] - a["complete"] for a, b in itertools.pairwise(runs)]
    return gaps


def driver_profile(result: dict[str, Any]) -> list[str]:
    prof = result["profile"]
    dispatched = max(1, prof["counters"].get("dispatched", 1))
    lines = [
        f"hpsearch driver, {dispatched} trials dispatched (ms per call; per trial; SQL "
        "statements / commits / new connections per call):"
    ]
    for name, values in sorted(prof["seconds"].items(), key=lambda kv: -sum(kv[1])):
        sql = prof["sql"].get(name, [])
        n = len(values)
        per = [sum(s[i] for s in sql) / n for i in range(3)] if sql else [0, 0, 0]
        lines.append(
            f"- {name}: {n} calls, {1000 * sum(values) / n:.1f} ms per call, "
            f"{1000 * sum(values) / dispatched:.1f} ms per trial; "
            f"{per[0]:.1f} / {per[1]:.1f} / {per[2]:.1f}"
        )
    return lines


def worker_profile(result: dict[str, Any]) -> list[str]:
    records = result.get("worker_profile", [])
    if not records:
        return []
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in records:
        for name, (count, seconds) in r["parts"].items():
            totals[name][0] += count
            totals[name][1] += seconds
    n = len(records)
    run = sum(r["run_s"] for r in records) / n
    lines = [f"hpsearch worker, {n} trials: TrialWorker.run {1000 * run:.1f} ms per trial:"]
    accounted = 0.0
    for name, (count, seconds) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        accounted += seconds
        lines.append(f"- {name}: {count / n:.1f} calls and {1000 * seconds / n:.1f} ms per trial")
    lines.append(f"- the rest of run(): {1000 * (run - accounted / n):.1f} ms per trial")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per system (N)")
    parser.add_argument("--workers", type=int, default=2, help="parallel trials (C)")
    parser.add_argument("--steps", type=int, default=10, help="steps (reports) per trial")
    parser.add_argument("--seconds", type=float, default=1.0, help="sleep per step")
    parser.add_argument(
        "--heartbeat", type=float, default=10.0, help="hpsearch heartbeat interval (space default)"
    )
    parser.add_argument(
        "--systems",
        nargs="*",
        default=list(SYSTEMS),
        choices=list(SYSTEMS),
        help="which systems to run (default: all)",
    )
    parser.add_argument(
        "--storage", help="PostgreSQL URL to use as is (default: a fresh database, dropped after)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="CI: 4 trials of 2 x 0.5 s; hpsearch, Optuna, Tune"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.trials, args.steps, args.seconds = 4, 2, 0.5
        if args.systems == list(SYSTEMS):
            args.systems = ["hpsearch", "optuna", "tune"]
    return args


def goal_lines(rows: dict[str, dict[str, Any]]) -> list[str]:
    fig = rows.get("hpsearch")
    if fig is None:
        return []
    out = ["Goals for hpsearch (overhead <= 2%, idle gap <= 100 ms):"]
    for key, label in (("overhead", "first start to last end"), ("overhead_cmd", "whole command")):
        ok = fig[key] <= 0.02
        out.append(f"- overhead, {label}: {100 * fig[key]:.1f}% ({'met' if ok else 'MISSED'})")
    gap = fig["gap_median_ms"]
    ok = gap is not None and gap <= 100
    out.append(f"- median idle gap: {fmt(gap, 0)} ms ({'met' if ok else 'MISSED'})")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if "tune" in " ".join(args.systems):
        try:
            import ray.tune  # noqa: F401
        except ImportError:
            print("Ray Tune is missing: pip install -e '.[bench]'", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="hps-bench-so-"))
    started = time.perf_counter()
    rows: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    for key in args.systems:
        system = SYSTEMS[key]
        print(f"[{time.perf_counter() - started:5.0f}s] {system.name}", file=sys.stderr, flush=True)
        results[key] = run_system(system, args, work)
        rows[key] = figures(results[key], args)
    work_s = args.steps * args.seconds
    headers = [
        "system",
        "trials",
        "ideal (s)",
        "wall, first start to last end (s)",
        "overhead",
        "wall, whole command (s)",
        "overhead, whole command",
        "per trial and worker (ms)",
        "inside a trial (ms)",
        "idle gap median (ms)",
        "idle gap p95 (ms)",
    ]
    table = []
    for key, fig in rows.items():
        table.append(
            [
                SYSTEMS[key].name,
                f"{fig['n']}",
                fmt(args.trials * work_s / args.workers),
                fmt(fig["span"]),
                f"{100 * fig['overhead']:.1f}%",
                fmt(fig["command"]),
                f"{100 * fig['overhead_cmd']:.1f}%",
                fmt(fig["per_trial_ms"], 0),
                fmt(fig["in_trial_ms"], 0),
                fmt(fig["gap_median_ms"], 0) + (" (slots)" if fig["grouping"] == "slot" else ""),
                fmt(fig["gap_p95_ms"], 0),
            ]
        )
    print(markdown_table(headers, table))
    print(
        f"\n{args.trials} trials of {args.steps} x {args.seconds:g} s, {args.workers} workers; "
        f"ideal = N*T/C. {machine()}; {versions('optuna', 'ray', 'sqlalchemy', 'psycopg2-binary')}."
        f" Ran in {time.perf_counter() - started:.0f}s."
    )
    for key in ("hpsearch",):
        if key in results:
            gaps = db_gaps(results[key])
            print(
                f"{SYSTEMS[key].name}: idle gap from the database (datetime_complete to the next "
                f"datetime_start on the same worker): median {fmt(1000 * (median(gaps) or 0), 0)}"
                f" ms over {len(gaps)} gaps."
            )
    for key in ("hpsearch",):
        if key in results:
            print(f"\n{SYSTEMS[key].name}:")
            print("\n".join(driver_profile(results[key]) + worker_profile(results[key])))
    print("\n" + "\n".join(goal_lines(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
