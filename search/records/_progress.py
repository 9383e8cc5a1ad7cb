"""Progress lines while a study runs, and the summary when it ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from hpsearch.search.records import attributes as A
from hpsearch.search.records._compute import ComputeUsage, paused_count
from hpsearch.search.records._ledger import Ledger


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def fmt_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


def eta_seconds(
    ledger: Ledger, budget: int | None, elapsed: float, finished_here: int
) -> float | None:
    if budget is None:
        return None
    remaining = max(0, budget - ledger.finished)
    if remaining == 0:
        return 0.0
    if finished_here == 0:
        return None
    return elapsed / finished_here * remaining


def compute_eta(usage: ComputeUsage, elapsed: float) -> float | None:
    """Time until the compute budget is used, at the rate it was used so far."""
    limit = usage.limit
    if limit is None or usage.used <= 0:
        return None
    return max(0.0, elapsed / usage.used * (limit - usage.used))


def finished_text(ledger: Ledger, budget: int | None) -> str:
    return f"{ledger.finished}/{budget}" if budget is not None else str(ledger.finished)


def paused_text(ledger: Ledger) -> str:
    paused = paused_count(ledger.trials)
    return f", {paused} paused" if paused else ""


@dataclass
class Progress:
    emit: Callable[[str], None]
    budget: int | None
    metric: str
    started: float | None = None  # None: now, on ``clock``
    finished_here: int = 0
    last_line: float = 0.0
    clock: Callable[[], float] = time.monotonic  # the driver's pool's clock
    compute: Callable[[Ledger], ComputeUsage] | None = None  # with a compute budget

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - (self.started or 0.0)

    def status_line(self, ledger: Ledger, study: optuna.Study) -> str:
        best = best_trial(study)
        best_text = (
            f"best {self.metric} {fmt_value(best.value)} (#{best.number})"
            if best
            else "no complete trial yet"
        )
        eta = eta_seconds(ledger, self.budget, self.elapsed(), self.finished_here)
        compute = ""
        if self.compute is not None:
            usage = self.compute(ledger)
            compute = f" | {usage.line()}"
            by_compute = compute_eta(usage, self.elapsed())
            eta = by_compute if eta is None or by_compute is None else min(eta, by_compute)
        return (
            f"[{fmt_duration(self.elapsed())}] {finished_text(ledger, self.budget)} finished "
            f"({ledger.complete} complete, {ledger.pruned} pruned, {ledger.failed} failed"
            f"{f', {ledger.retried} retried' if ledger.retried else ''}{paused_text(ledger)}), "
            f"{ledger.running} running | {best_text}{compute} | ETA {fmt_duration(eta)}"
        )

    def trial_line(self, outcome: Any) -> str:
        value = f" {self.metric}={fmt_value(outcome.value)}" if outcome.value is not None else ""
        reason = f" ({outcome.reason})" if outcome.reason else ""
        return (
            f"  trial {outcome.number}: {outcome.state.lower()}{value} in "
            f"{fmt_duration(outcome.wall_time_s)}{reason}"
        )

    def status_due(self, every: float = 15.0) -> bool:
        return self.clock() - self.last_line >= every

    def maybe_status(self, ledger: Ledger, study: optuna.Study, every: float = 15.0) -> None:
        now = self.clock()
        if now - self.last_line >= every:
            self.last_line = now
            self.emit(self.status_line(ledger, study))


def summary_lines(
    study: optuna.Study,
    ledger: Ledger,
    budget: int | None,
    elapsed: float,
    metric: str,
    *,
    compute: ComputeUsage | None = None,
) -> list[str]:
    lines = [
        f"Study {study.study_name!r}: {finished_text(ledger, budget)} trials finished in "
        f"{fmt_duration(elapsed)} ({ledger.complete} complete, {ledger.pruned} pruned, "
        f"{ledger.failed} failed, {ledger.retried} retried{paused_text(ledger)}).",
    ]
    if compute is not None:
        lines.append(compute.line())
    best = best_trial(study)
    if best is None:
        lines.append("No trial completed, so there is no best configuration.")
        return lines
    lines.append(f"Best trial #{best.number}: {metric} = {fmt_value(best.value)}")
    for name, value in best.params.items():
        lines.append(f"  {name}: {value}")
    if A.ADAPTER_DIR in best.user_attrs:
        lines.append(f"Best adapter: {best.user_attrs[A.ADAPTER_DIR]}")
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(complete) > 1:
        worst = max(complete, key=lambda t: t.value if t.value is not None else float("-inf"))
        if study.direction == optuna.study.StudyDirection.MAXIMIZE:
            worst = min(complete, key=lambda t: t.value if t.value is not None else float("inf"))
        lines.append(f"Worst complete trial #{worst.number}: {metric} = {fmt_value(worst.value)}")
    return lines
