"""Figures and the markdown table of the sample-efficiency benchmark.

Every figure is computed from simulated runs; a policy that never reaches a target within the
budget is shown as ``>budget`` (never estimated or extrapolated).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.sample_efficiency.runner import RunLog

CHECKPOINTS_FBE = (10, 25, 50, 100)


def median_or_none(values: Sequence[float | None], missing: float = float("inf")) -> float | None:
    """The median where a missing value (None) ranks as ``missing`` (+inf: an unreached
    target; -inf: no result yet); None when the median itself is missing."""
    ordered = sorted(values, key=lambda v: missing if v is None else v)
    if not ordered:
        return None
    n = len(ordered)
    lo, hi = ordered[(n - 1) // 2], ordered[n // 2]
    if lo is None or hi is None:
        return None
    return (lo + hi) / 2


def target_of(random_logs: Sequence[RunLog], budget_epochs: int) -> float:
    """Random search's result at the budget, median over seeds: the quality target."""
    bests = [log.best_at_epochs(budget_epochs) for log in random_logs]
    reached = [b for b in bests if b is not None]
    if len(reached) < len(bests):
        raise RuntimeError("random search completed no trial within the budget")
    return statistics.median(reached)


@dataclass(frozen=True)
class PolicyFigures:
    """One policy on one instance, over seeds."""

    best_at: dict[int, float | None]  # FBE checkpoint -> median best val_accuracy
    fbe_to_target: float | None  # median FBE to reach the target (None: median not reached)
    n_reached: int
    n_seeds: int
    mean_trials: float
    mean_pruned: float


def figures(
    logs: Sequence[RunLog],
    target: float,
    max_epoch: int,
    checkpoints: Sequence[int] = CHECKPOINTS_FBE,
) -> PolicyFigures:
    best_at: dict[int, float | None] = {}
    for fbe in checkpoints:
        bests = [log.best_at_epochs(fbe * max_epoch) for log in logs]
        # A seed with no completed trial yet has no result: it ranks as the worst.
        best_at[fbe] = median_or_none(bests, missing=float("-inf"))
    reach = [log.epochs_to_reach(target) for log in logs]
    fbe = [None if r is None else r / max_epoch for r in reach]
    return PolicyFigures(
        best_at=best_at,
        fbe_to_target=median_or_none(fbe),
        n_reached=sum(r is not None for r in reach),
        n_seeds=len(logs),
        mean_trials=statistics.fmean(log.n_trials for log in logs),
        mean_pruned=statistics.fmean(log.n_pruned for log in logs),
    )


def fmt(value: float | None, digits: int = 2, missing: str = "-") -> str:
    return missing if value is None else f"{value:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
