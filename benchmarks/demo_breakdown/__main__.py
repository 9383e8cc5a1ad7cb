"""Where the demo study's wall time goes: training, evaluation, model loading, service.

Runs the README's demo command, ``hpsearch run --space lora_small``, with a fresh
``HPSEARCH_HOME`` (embedded SQLite, the built-in offline demo, as many CPU workers as the
machine fits: 2 here) and splits its wall time with the trials' own attributes
(``train_time_s``, ``eval_time_s``, ``load_time_s``, ``wall_time_s``), their start and end in
the study, and the time each line of the command's output appeared (Ray start-up).

    python -m benchmarks.demo_breakdown --runs 3    # the demo study three times
    python -m benchmarks.demo_breakdown --smoke     # CI: 2 trials of 10 steps

Prints one markdown table: one column pair per run, rows adding up to the command's wall time.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import machine, markdown_table, versions

ROWS = (
    ("startup", "start-up before Ray: imports, validation, study creation"),
    ("ray", "Ray start-up (private local Ray, study load)"),
    ("to_first", "Ray actors start, first ask and dispatch (to the first trial's start)"),
    ("train", "training (train_time_s)"),
    ("eval", "evaluation (eval_time_s)"),
    ("load", "model and data loading (load_time_s)"),
    ("runner", "rest of the trial run (Trainer set-up, checkpoints, reporting)"),
    ("service", "service, per trial (ask to run start, dispatch, tell)"),
    ("gaps", "idle between trials on a worker"),
    ("tail", "worker idle at the end (no trial left) or late start"),
    ("after", "after the last trial: summary, Ray shutdown"),
)


def run_demo(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "hpsearch.search.cli.main", "run", "--space", "lora_small"]
    cmd += args.extra
    env = {**os.environ, "HPSEARCH_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop("HPSEARCH_STORAGE", None)
    lines: list[tuple[float, str]] = []
    started = time.time()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append((time.time(), line.rstrip("\n")))
    code = proc.wait()
    ended = time.time()
    if code != 0:
        tail = "\n".join(text for _, text in lines[-20:])
        raise SystemExit(f"hpsearch run exited {code}:\n{tail}")
    return {"started": started, "ended": ended, "lines": lines, "home": home}


def _line_time(lines: list[tuple[float, str]], prefix: str) -> float | None:
    return next((t for t, text in lines if text.strip().startswith(prefix)), None)


def breakdown(run: dict[str, Any]) -> dict[str, Any]:
    import optuna

    from hpsearch.storage import resolve_storage

    os.environ["HPSEARCH_HOME"] = str(run["home"])
    location = resolve_storage(None)
    names = optuna.get_all_study_names(storage=location.url)
    study = optuna.load_study(study_name=names[0], storage=location.url)
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_start]
    by_worker: dict[str, list[Any]] = defaultdict(list)
    for t in trials:
        by_worker[str(t.user_attrs.get("worker"))].append(t)
    workers = len(by_worker)

    def ts(when: Any) -> float:
        return float(when.timestamp())

    first = min(ts(t.datetime_start) for t in trials)
    last = max(ts(t.datetime_complete) for t in trials if t.datetime_complete)
    ray_line = _line_time(run["lines"], "Ray:") or first
    before_ray = _line_time(run["lines"], "Task:") or _line_time(run["lines"], "Created study")
    before_ray = before_ray or run["started"]

    def attr(t: Any, key: str) -> float:
        return float(t.user_attrs.get(key) or 0.0)

    sums = {k: 0.0 for k in ("train", "eval", "load", "runner", "service", "gaps", "tail")}
    for runs in by_worker.values():
        runs.sort(key=lambda t: t.datetime_start)
        for t in runs:
            span = ts(t.datetime_complete) - ts(t.datetime_start) if t.datetime_complete else 0.0
            wall = attr(t, "wall_time_s")
            parts = attr(t, "train_time_s") + attr(t, "eval_time_s") + attr(t, "load_time_s")
            sums["train"] += attr(t, "train_time_s")
            sums["eval"] += attr(t, "eval_time_s")
            sums["load"] += attr(t, "load_time_s")
            sums["runner"] += wall - parts
            sums["service"] += span - wall
        for a, b in itertools.pairwise(runs):
            sums["gaps"] += ts(b.datetime_start) - ts(a.datetime_complete)
        busy_to = ts(runs[-1].datetime_complete)
        sums["tail"] += (ts(runs[0].datetime_start) - first) + (last - busy_to)
    # Worker-seconds become wall-clock seconds: the trial phase is shared by the workers.
    out = {k: v / workers for k, v in sums.items()}
    out["startup"] = before_ray - run["started"]
    out["ray"] = ray_line - before_ray
    out["to_first"] = first - ray_line
    out["after"] = run["ended"] - last
    out["wall"] = run["ended"] - run["started"]
    out["trials"] = len(trials)
    out["workers"] = workers
    out["complete"] = sum(1 for t in trials if t.state.name == "COMPLETE")
    out["pruned"] = sum(1 for t in trials if t.state.name == "PRUNED")
    out["per_trial_service_ms"] = 1000 * sums["service"] / max(1, len(trials))
    out["per_gap_ms"] = 1000 * sums["gaps"] / max(1, len(trials) - workers)
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="how many times to run the demo")
    parser.add_argument(
        "--smoke", action="store_true", help="CI: one run of 2 trials with 10 steps each"
    )
    args = parser.parse_args(argv)
    args.extra = []
    if args.smoke:
        args.runs = 1
        args.extra = ["--trials", "2", "--max-steps", "10"]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    results = []
    for i in range(args.runs):
        print(f"[{time.perf_counter() - began:5.0f}s] run {i + 1}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="hps-demo-") as home:
            results.append(breakdown(run_demo(args, Path(home))))
    headers = ["part of the wall time"]
    for i in range(len(results)):
        headers += [f"run {i + 1} (s)", f"run {i + 1} (%)"]
    rows = []
    for key, label in ROWS:
        row = [label]
        for r in results:
            row += [f"{r[key]:.1f}", f"{100 * r[key] / r['wall']:.1f}"]
        rows.append(row)
    total = ["**command wall time**"]
    for r in results:
        total += [f"**{r['wall']:.1f}**", "100.0"]
    rows.append(total)
    print(markdown_table(headers, rows))
    print()
    for i, r in enumerate(results, 1):
        print(
            f"- run {i}: {r['trials']} trials ({r['complete']} complete, {r['pruned']} pruned) "
            f"on {r['workers']} workers; service per trial {r['per_trial_service_ms']:.0f} ms; "
            f"idle gap per trial change {r['per_gap_ms']:.0f} ms"
        )
    print(
        f"\nWorker-time parts (training to tail) are divided by the number of workers, so all "
        f"rows add up to the command's wall time. {machine()}; "
        f"{versions('torch', 'transformers', 'peft', 'optuna', 'ray')}. "
        f"Ran in {time.perf_counter() - began:.0f}s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
