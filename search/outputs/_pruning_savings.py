"""Pruning savings: compute a study spent versus running every trial to the end.

A trial's last step is its ``last_step`` user attribute (the last step, or tokens seen, that it
trained to), else its last reported intermediate step. What it *spent* is the steps it trained
itself: its last step minus the step it resumed from (``RESUMED_AT``; 0 when absent), so a
promoted successor's copies of its predecessor's values (steps <= ``RESUMED_AT``) are not
counted again. The full length is the task's ``max_steps`` (step fidelity); without one (epochs,
or token fidelity) it is estimated as the longest finished trial. A trial *saved* the steps from
its last step to the full length, unless its configuration goes on: a trial continued by a
promoted successor (``PROMOTED_TO``) or a retry saved nothing (its successor accounts for the
configuration), and a paused trial that may still be promoted (``PAUSED_AT``, no successor, its
checkpoint kept) has its remaining steps *pending*, not saved, until it can no longer be
promoted (its checkpoint deleted: ``PAUSED_CHECKPOINT_DELETED``). Wall time if every trial ran
to the end is extrapolated linearly from each trial's own wall time.

Studies written before pausing have none of these attributes: a retried trial is then left out
(its successor counts the configuration's steps from 0), as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.records import attributes as A
from hpsearch.search.records import is_paused

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class TrialCost:
    number: int
    state: str
    spent: int  # the steps this trial trained itself: last - start
    full: int
    wall_time_s: float | None
    reason: str | None
    start: int = 0  # the step it resumed from (RESUMED_AT)
    continued: bool = False  # a successor (promotion or retry) carries its configuration on
    pending: bool = False  # paused and may still be promoted: its remaining steps may still run

    @property
    def last(self) -> int:
        return self.start + self.spent

    @property
    def remaining(self) -> int:
        """Steps from its last step to the full length (its configuration's unrun rest)."""
        return 0 if self.continued else max(0, self.full - self.last)

    @property
    def saved(self) -> int:
        return 0 if self.pending else self.remaining

    @property
    def pending_steps(self) -> int:
        return self.remaining if self.pending else 0


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
        return sum(t.spent + t.remaining for t in self.trials)

    @property
    def pending(self) -> int:
        """Steps paused trials may still train if the search promotes them (not saved yet)."""
        return sum(t.pending_steps for t in self.trials)

    @property
    def paused(self) -> int:
        """How many paused trials may still be promoted."""
        return sum(1 for t in self.trials if t.pending)

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
            total += wall * (t.spent + t.remaining) / t.spent if t.spent else wall
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
            "pending_promotion": self.pending,
            "paused_trials": self.paused,
            "wall_spent_s": round(self.wall_spent_s, 1),
            "wall_if_full_s": round(self.wall_if_full_s, 1),
        }


def spent_length(trial: FrozenTrial) -> int:
    """The last step ``trial`` trained to (absolute: a resumed trial's count from 0)."""
    last = trial.user_attrs.get("last_step")
    if isinstance(last, (int, float)):
        return int(last)
    return max(trial.intermediate_values, default=0)


def resumed_at(trial: FrozenTrial) -> int:
    """The step ``trial`` resumed from (``RESUMED_AT``), 0 when it started from scratch."""
    step = trial.user_attrs.get(A.RESUMED_AT)
    return int(step) if isinstance(step, (int, float)) and step > 0 else 0


def own_steps(trial: FrozenTrial) -> int:
    """The steps ``trial`` trained itself: its last step minus the step it resumed from."""
    return max(0, spent_length(trial) - resumed_at(trial))


def _wall(trial: FrozenTrial) -> float | None:
    wall = trial.user_attrs.get(A.WALL_TIME)
    if isinstance(wall, (int, float)):
        return float(wall)
    if trial.datetime_start and trial.datetime_complete:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return None


def _continued(trials: list[FrozenTrial]) -> tuple[set[int], set[int]]:
    """Trials a successor carries on (counted with their own steps), and retried trials of
    studies written before pausing (left out: their successor counts from step 0)."""
    by_number = {t.number: t for t in trials}
    continued: set[int] = set()
    left_out: set[int] = set()
    for t in trials:
        promoted_to = t.user_attrs.get(A.PROMOTED_TO)
        if promoted_to is not None and int(promoted_to) in by_number:
            continued.add(t.number)
        retry_of = t.user_attrs.get(A.RETRY_OF)
        if retry_of is not None:
            (continued if A.RESUMED_AT in t.user_attrs else left_out).add(int(retry_of))
    return continued - left_out, left_out


def compute_savings(study: optuna.Study) -> Savings | None:
    """None when no trial has finished."""
    trials = study.get_trials(deepcopy=False)
    continued, left_out = _continued(trials)
    finished = [t for t in trials if t.state in FINISHED and t.number not in left_out]
    if not finished:
        return None
    task = study.user_attrs.get(A.STUDY_TASK) or {}
    fidelity = str(task.get("fidelity", "steps"))
    max_steps = task.get("max_steps")
    if fidelity == "steps" and isinstance(max_steps, int) and max_steps > 0:
        full, source = max_steps, "the task's max_steps"
    else:
        full = max(spent_length(t) for t in finished)
        source = "the longest finished trial (an estimate: the task sets no max_steps)"
    savings = Savings("tokens" if fidelity == "tokens" else "steps", full, source)
    for t in finished:
        reason = t.user_attrs.get(A.PRUNE_REASON) or t.user_attrs.get(A.STOP_REASON)
        reason = reason or t.user_attrs.get(A.FAIL_REASON)
        savings.trials.append(
            TrialCost(
                number=t.number,
                state=t.state.name,
                spent=own_steps(t),
                full=full,
                wall_time_s=_wall(t),
                reason=None if reason is None else str(reason),
                start=resumed_at(t),
                continued=t.number in continued,
                pending=t.number not in continued and is_paused(t),
            )
        )
    return savings
