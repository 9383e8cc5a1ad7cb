"""Figures of the peer runs, as ``benchmarks.sample_efficiency.report`` computes them for hpsearch.

The lead's benchmark calls::

    runs = load_runs("results.jsonl")
    figs = peer_figures(runs, targets={"189873": 91.2, ...}, checkpoints=(10, 25, 50, 100))
    figs["189873", "st_mobster"].fbe_to_target

with ``targets`` hpsearch's own (random search's median best at the budget, per instance).
Standard library only; no import of hpsearch or of the other benchmark modules, so it can be
loaded by path (``importlib``) or as ``benchmarks.sample_efficiency_peers.report``.

Definitions (the same as hpsearch's benchmark's): best@N is the best val_accuracy of a configuration
evaluated at the full fidelity (epoch 52 reached) within N FBE spent, median over seeds, a seed
with none yet ranking lowest; FBE to target is the epochs spent when a full-fidelity value first
reached the target, / 52, median over seeds, a seed that never reached it ranking highest
(None: the median seed did not reach it, shown as ``>budget``); seeds reaching counts them.

    python -m benchmarks.sample_efficiency_peers.report results.jsonl            # target: the
        # file's own ``random`` runs (its median best at the budget), per instance
    python -m benchmarks.sample_efficiency_peers.report results.jsonl --targets t.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKPOINTS_FBE = (10, 25, 50, 100)

__all__ = [
    "CHECKPOINTS_FBE",
    "PeerFigures",
    "best_at_epochs",
    "epochs_to_reach",
    "load_runs",
    "markdown_report",
    "median_or_none",
    "peer_figures",
    "random_targets",
]


def load_runs(*paths: str | Path) -> list[dict[str, Any]]:
    """The runs of ``run_peers.py`` output files (one JSON object per line).

    A run (method, instance, seed, budget) found twice is kept once: the first one read.
    """
    runs, seen = [], set()
    for path in paths:
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                run = json.loads(line)
            except json.JSONDecodeError as exc:  # a line cut by a kill: say where
                raise ValueError(f"{path}:{n}: not a JSON line ({exc})") from exc
            key = (run["method"], str(run["instance"]), run["seed"], float(run["budget_fbe"]))
            if key not in seen:
                seen.add(key)
                runs.append(run)
    return runs


def median_or_none(values: Sequence[float | None], missing: float = float("inf")) -> float | None:
    """The median where a missing value (None) ranks as ``missing``; None if the median is."""
    ordered = sorted(values, key=lambda v: missing if v is None else v)
    if not ordered:
        return None
    n = len(ordered)
    lo, hi = ordered[(n - 1) // 2], ordered[n // 2]
    if lo is None or hi is None:
        return None
    return (lo + hi) / 2


def best_at_epochs(run: Mapping[str, Any], epochs: float) -> float | None:
    values = [v for e, _, v in run["trajectory"] if e <= epochs]
    return max(values) if values else None


def epochs_to_reach(run: Mapping[str, Any], target: float) -> int | None:
    for e, _, v in run["trajectory"]:
        if v >= target:
            return int(e)
    return None


def time_to_reach(run: Mapping[str, Any], target: float) -> float | None:
    for _, t, v in run["trajectory"]:
        if v >= target:
            return float(t)
    return None


@dataclass(frozen=True)
class PeerFigures:
    """One method on one instance, over seeds."""

    best_at: dict[int, float | None]  # FBE checkpoint -> median best val_accuracy
    fbe_to_target: float | None
    n_reached: int
    n_seeds: int
    mean_trials: float  # trials (evaluations) started from scratch
    mean_resumes: float  # paused trials resumed from a checkpoint
    mean_configs: float  # distinct configurations
    decision_s_per_trial: float  # wall seconds in the library per trial started, mean over seeds
    decision_cpu_s_per_trial: float  # the same in CPU seconds
    decision_s_per_run: float  # wall seconds in the library per run, mean over seeds
    hours_to_target: float | None  # simulated hours (surrogate time), median over seeds


def peer_figures(
    runs: Iterable[Mapping[str, Any]],
    targets: Mapping[str, float],
    checkpoints: Sequence[int] = CHECKPOINTS_FBE,
    budget_fbe: float | None = None,
) -> dict[tuple[str, str], PeerFigures]:
    """Figures per ``(instance, method)`` for the instances in ``targets``.

    ``budget_fbe``: only runs of that budget (default: all, which must then share one).
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    budgets = set()
    for run in runs:
        if budget_fbe is not None and run["budget_fbe"] != budget_fbe:
            continue
        if run["instance"] in targets:
            groups.setdefault((run["instance"], run["method"]), []).append(run)
            budgets.add(run["budget_fbe"])
    if len(budgets) > 1:
        raise ValueError(f"runs of several budgets {sorted(budgets)}: pass budget_fbe")
    out = {}
    for key, group in sorted(groups.items()):
        target = targets[key[0]]
        best_at: dict[int, float | None] = {}
        for fbe in checkpoints:
            bests = [best_at_epochs(r, fbe * r["max_epoch"]) for r in group]
            best_at[fbe] = median_or_none(bests, missing=float("-inf"))
        reach = [epochs_to_reach(r, target) for r in group]
        fbe = [None if e is None else e / r["max_epoch"] for e, r in zip(reach, group, strict=True)]
        hours = [time_to_reach(r, target) for r in group]
        out[key] = PeerFigures(
            best_at=best_at,
            fbe_to_target=median_or_none(fbe),
            n_reached=sum(e is not None for e in reach),
            n_seeds=len(group),
            mean_trials=statistics.fmean(r["n_trials"] for r in group),
            mean_resumes=statistics.fmean(r["n_resumes"] for r in group),
            mean_configs=statistics.fmean(r["n_configs"] for r in group),
            decision_s_per_trial=statistics.fmean(
                r["decision"]["total_s"] / max(1, r["n_trials"]) for r in group
            ),
            decision_cpu_s_per_trial=statistics.fmean(
                r["decision"]["cpu_s"] / max(1, r["n_trials"]) for r in group
            ),
            decision_s_per_run=statistics.fmean(r["decision"]["total_s"] for r in group),
            hours_to_target=None if (h := median_or_none(hours)) is None else h / 3600,
        )
    return out


def random_targets(runs: Iterable[Mapping[str, Any]], method: str = "random") -> dict[str, float]:
    """Per instance, the median over seeds of ``method``'s best at its budget."""
    bests: dict[str, list[float | None]] = {}
    for run in runs:
        if run["method"] == method:
            bests.setdefault(run["instance"], []).append(best_at_epochs(run, run["budget_epochs"]))
    out = {}
    for instance, values in bests.items():
        if any(v is None for v in values):
            raise ValueError(f"{method} completed no trial within the budget on {instance}")
        out[instance] = statistics.median(v for v in values if v is not None)
    return out


def _fmt(value: float | None, digits: int = 2, missing: str = "-") -> str:
    return missing if value is None else f"{value:.{digits}f}"


def markdown_report(
    figs: Mapping[tuple[str, str], PeerFigures],
    targets: Mapping[str, float],
    budget_fbe: float,
    checkpoints: Sequence[int] = CHECKPOINTS_FBE,
) -> str:
    headers = [
        "instance", "method", *(f"best@{c}" for c in checkpoints), "target", "FBE to target",
        "seeds reaching", "trials", "resumes", "decision s/trial", "decision CPU s/trial",
    ]  # fmt: skip
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|",
    ]
    missing = f">{budget_fbe:g}"
    for (instance, method), f in figs.items():
        row = [
            instance, method, *(_fmt(f.best_at.get(c)) for c in checkpoints),
            _fmt(targets[instance]), _fmt(f.fbe_to_target, 1, missing),
            f"{f.n_reached}/{f.n_seeds}", f"{f.mean_trials:.0f}", f"{f.mean_resumes:.0f}",
            _fmt(f.decision_s_per_trial, 3), _fmt(f.decision_cpu_s_per_trial, 3),
        ]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="figures of run_peers.py's output")
    parser.add_argument("results", nargs="+", help="JSON-lines files run_peers.py wrote")
    parser.add_argument("--targets", help="JSON file {instance: target val_accuracy}")
    parser.add_argument("--budget-fbe", type=float, help="only runs of this budget")
    args = parser.parse_args(argv)
    runs = load_runs(*args.results)
    if args.budget_fbe is not None:
        runs = [r for r in runs if r["budget_fbe"] == args.budget_fbe]
    if not runs:
        print(f"no runs in {' '.join(args.results)}", file=sys.stderr)
        return 2
    if args.targets:
        targets = {str(k): float(v) for k, v in json.loads(Path(args.targets).read_text()).items()}
    else:
        targets = random_targets(runs)
        if not targets:
            print("no 'random' runs to set the target: run them or pass --targets", file=sys.stderr)
            return 2
    budget = args.budget_fbe if args.budget_fbe is not None else max(r["budget_fbe"] for r in runs)
    checkpoints = [c for c in CHECKPOINTS_FBE if c < budget] + [int(budget)]
    figs = peer_figures(runs, targets, checkpoints, budget_fbe=args.budget_fbe)
    print(markdown_report(figs, targets, budget, checkpoints))
    source = args.targets or "the file's random runs (median best at the budget)"
    print(f"\nTarget per instance: {source}. best@N: median over seeds of the best val_accuracy "
          f"(%) evaluated at epoch 52 within N FBE; FBE to target: median over seeds "
          f"(>{budget:g}: the median seed never reached it); decision s/trial: seconds inside "
          "the library's calls per trial started from scratch, mean over seeds.")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
