"""Pruning savings: compute a study spent versus running every trial to the end.

A trial's spent length is its ``last_step`` user attribute (the last step, or tokens seen,
that it trained to), else its last reported intermediate step. The full length is the task's
``max_steps`` (step fidelity); without one (epochs, or token fidelity) it is estimated as the
longest finished trial. Wall time if every trial ran to the end is extrapolated linearly from
each trial's own wall time. Trials superseded by a retry are left out: their successor carries
the work on from a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.records import attributes as A

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class TrialCost:
    number: int
    state: str
    spent: int
    full: int
    wall_time_s: float | None
    reason: str | None

    @property
    def saved(self) -> int:
        return max(0, self.full - self.spent)


@dataclass
class Savings:
    unit: str  # "steps" or "tokens"
    full_length: int
    full_length_source: str
    trials: list[TrialCost] = field(default_factory=list)

    @property
    def spent(self) -> int:
        return sum(t.spent for t in self.trials)

    @property
    def if_all_full(self) -> int:
        return sum(max(t.full, t.spent) for t in self.trials)

    @property
    def saved_fraction(self) -> float:
        return 1 - self.spent / self.if_all_full if self.if_all_full else 0.0

    def saved_by(self, state: str, early_stop: bool = False) -> int:
        return sum(
            t.saved
            for t in self.trials
            if t.state == state and (not early_stop or (t.reason or "").startswith("early"))
        )

    @property
    def wall_spent_s(self) -> float:
        return sum(t.wall_time_s or 0.0 for t in self.trials)

    @property
    def wall_if_full_s(self) -> float:
        total = 0.0
        for t in self.trials:
            wall = t.wall_time_s or 0.0
            total += wall * max(t.full, t.spent) / t.spent if t.spent else wall
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "full_length": self.full_length,
            "full_length_source": self.full_length_source,
            "spent": self.spent,
            "if_all_full": self.if_all_full,
            "saved_fraction": round(self.saved_fraction, 4),
            "saved_by_pruning": self.saved_by("PRUNED"),
            "saved_by_early_stopping": self.saved_by("COMPLETE", early_stop=True),
            "wall_spent_s": round(self.wall_spent_s, 1),
            "wall_if_full_s": round(self.wall_if_full_s, 1),
        }


def spent_length(trial: FrozenTrial) -> int:
    last = trial.user_attrs.get("last_step")
    if isinstance(last, (int, float)):
        return int(last)
    return max(trial.intermediate_values, default=0)


def _wall(trial: FrozenTrial) -> float | None:
    wall = trial.user_attrs.get(A.WALL_TIME)
    if isinstance(wall, (int, float)):
        return float(wall)
    if trial.datetime_start and trial.datetime_complete:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return None


def compute_savings(study: optuna.Study) -> Savings | None:
    """None when no trial has finished."""
    trials = study.get_trials(deepcopy=False)
    superseded = {int(t.user_attrs[A.RETRY_OF]) for t in trials if A.RETRY_OF in t.user_attrs}
    finished = [t for t in trials if t.state in FINISHED and t.number not in superseded]
    if not finished:
        return None
    task = study.user_attrs.get(A.STUDY_TASK) or {}
    fidelity = str(task.get("fidelity", "steps"))
    max_steps = task.get("max_steps")
    lengths = {t.number: spent_length(t) for t in finished}
    if fidelity == "steps" and isinstance(max_steps, int) and max_steps > 0:
        full, source = max_steps, "the task's max_steps"
    else:
        full = max(lengths.values())
        source = "the longest finished trial (an estimate: the task sets no max_steps)"
    savings = Savings("tokens" if fidelity == "tokens" else "steps", full, source)
    for t in finished:
        reason = t.user_attrs.get(A.PRUNE_REASON) or t.user_attrs.get(A.STOP_REASON)
        reason = reason or t.user_attrs.get(A.FAIL_REASON)
        savings.trials.append(
            TrialCost(
                number=t.number,
                state=t.state.name,
                spent=lengths[t.number],
                full=full,
                wall_time_s=_wall(t),
                reason=None if reason is None else str(reason),
            )
        )
    return savings
