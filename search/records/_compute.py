"""Training compute a study has used, counted from its trials (for the compute budget).

A trial trained ``last - resumed`` steps: ``last`` is its last step (the newest of its
intermediate values' steps and the ``last_step`` user attribute the trainers record), and
``resumed`` is the step of the checkpoint it continued from (``RESUMED_AT``, set on retries and
promoted successors; 0 when absent), so a successor counts only the steps it trained itself
and the copies of its predecessor's values it carries count nothing. Steps are the task's
fidelity steps (optimizer steps, or tokens seen); an FBE is one trial of the task's max_steps.

Computed from the FrozenTrials a ledger already holds: one pass, no query per trial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.records import attributes as A
from hpsearch.spaces import ComputeBudget
from hpsearch.storage import trial_id_of

LAST_STEP = "last_step"  # the trainers' user attribute: the last step a trial trained
COMPUTE_ATTRS = (LAST_STEP, A.RESUMED_AT, A.PAUSED_AT, A.PROMOTED_TO)
"""The trial user attributes compute accounting and the paused count read."""


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def trained_steps(trial: FrozenTrial, last_steps: Mapping[int, int] | None = None) -> int:
    """Steps ``trial`` trained itself. ``last_steps`` (trial id -> newest intermediate step)
    stands in for intermediate values a lean trial row does not carry."""
    last = _as_int(trial.user_attrs.get(LAST_STEP))
    if trial.intermediate_values:
        last = max(last, max(trial.intermediate_values))
    if last_steps is not None:
        last = max(last, last_steps.get(trial_id_of(trial), 0))
    return max(0, last - _as_int(trial.user_attrs.get(A.RESUMED_AT)))


def steps_used(trials: Iterable[FrozenTrial], last_steps: Mapping[int, int] | None = None) -> int:
    """Steps all ``trials`` trained (each step once, retries and promotions included)."""
    return sum(trained_steps(t, last_steps) for t in trials)


def is_paused(trial: FrozenTrial) -> bool:
    """A paused trial: PRUNED at a rung with its checkpoint kept, not (yet) promoted (a
    candidate for promotion)."""
    attrs = trial.user_attrs
    return (
        trial.state == TrialState.PRUNED
        and attrs.get(A.PAUSED_AT) is not None
        and attrs.get(A.PROMOTED_TO) is None
        and not attrs.get(A.PAUSED_CHECKPOINT_DELETED)
    )


def paused_count(trials: Iterable[FrozenTrial]) -> int:
    return sum(1 for t in trials if is_paused(t))


@dataclass(frozen=True)
class ComputeUsage:
    """Compute used against a compute budget, in the task's fidelity units."""

    used: int  # steps (or tokens) trained by every trial
    budget: ComputeBudget | None
    full_steps: int | None  # one full trial's steps (the task's max_steps); None: unknown

    @property
    def limit(self) -> float | None:
        if self.budget is None:
            return None
        try:
            return self.budget.limit(self.full_steps)
        except ValueError:
            return None

    @property
    def spent(self) -> bool:
        limit = self.limit
        return limit is not None and self.used >= limit

    @property
    def fbe(self) -> float | None:
        return self.used / self.full_steps if self.full_steps else None

    @property
    def unit(self) -> str:
        return "tokens" if self.budget is not None and self.budget.unit == "tokens" else "steps"

    def line(self) -> str:
        """``compute: 63.2 / 100 FBE (3,286 / 5,200 steps)``."""
        limit = self.limit
        counted = f"{self.used:,} / {limit:,.0f} {self.unit}" if limit is not None else ""
        if self.budget is not None and self.fbe is not None and limit is not None:
            fbe_limit = limit / self.full_steps if self.full_steps else 0.0
            return f"compute: {self.fbe:.1f} / {fbe_limit:g} FBE ({counted})"
        if counted:
            return f"compute: {counted}"
        return f"compute: {self.used:,} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        return {
            "used": self.used,
            "limit": self.limit,
            "unit": self.unit,
            "fbe": self.fbe,
            "budget": None if self.budget is None else self.budget.to_dict(),
        }


def compute_usage(
    trials: Iterable[FrozenTrial],
    budget: ComputeBudget | None,
    full_steps: int | None,
    last_steps: Mapping[int, int] | None = None,
) -> ComputeUsage:
    return ComputeUsage(steps_used(trials, last_steps), budget, full_steps)
