"""Event-driven simulation of an hpsearch study on a learning-curve surrogate.

``n_workers`` simulated workers each pull a trial when free. A trial's epochs end at the times
the surrogate predicts (its ``time`` target), and events are processed in simulated-time order,
so a sampler sees exactly the trials finished, pruned or running at that moment, and a pruning
decision sees only the values reported before it. With ``n_workers=1`` this is the ordinary
sequential loop of a real trainer (sample, train epoch by epoch, report, stop when pruned).

The budget counts epochs: one full-budget equivalent (FBE) is one trial run to its last epoch,
and a pruned trial costs the epochs it ran.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from hpsearch.search.policy import build_pruner, build_sampler, sample_params
from hpsearch.spaces import SearchSpace

CurveFn = Callable[[dict[str, Any]], Any]  # config -> se_lcbench.Curve


@dataclass(frozen=True)
class Completion:
    """A trial that ran to its last epoch."""

    epochs: int  # epochs spent by all trials when it completed
    time: float  # simulated seconds when it completed
    value: float  # its val_accuracy at the last epoch (what the objective returns)


@dataclass
class RunLog:
    completions: list[Completion] = field(default_factory=list)
    epochs_used: int = 0
    n_trials: int = 0
    n_pruned: int = 0
    end_time: float = 0.0

    def best_at_epochs(self, epochs: float) -> float | None:
        """The best completed value within ``epochs`` spent epochs (None before any)."""
        values = [c.value for c in self.completions if c.epochs <= epochs]
        return max(values) if values else None

    def epochs_to_reach(self, target: float) -> int | None:
        for c in self.completions:
            if c.value >= target:
                return c.epochs
        return None

    def time_to_reach(self, target: float) -> float | None:
        times = [c.time for c in self.completions if c.value >= target]
        return min(times) if times else None


def surrogate_trainer(trial: optuna.Trial, curve: Any) -> Iterator[tuple[int, float, bool]]:
    """Train one trial on the surrogate, one epoch per ``next()``.

    Each step reports the epoch's val_accuracy to ``trial``, asks the pruner, and yields
    ``(epoch, value, pruned)``; the trainer stops after the last epoch or once pruned.
    """
    for epoch in range(1, curve.n_epochs + 1):
        value = float(curve.val_accuracy[epoch - 1])
        trial.report(value, epoch)
        pruned = epoch < curve.n_epochs and trial.should_prune()
        yield epoch, value, pruned
        if pruned:
            return


@dataclass
class _Running:
    trial: optuna.Trial
    steps: Iterator[tuple[int, float, bool]]
    start: float
    cum_time: Any  # seconds from the trial's start to the end of each epoch


def simulate(
    space: SearchSpace,
    curve_fn: CurveFn,
    *,
    max_epoch: int,
    budget_epochs: int,
    n_workers: int = 1,
    seed: int = 0,
    first_eval_step: int = 1,
    pruner: optuna.pruners.BasePruner | None = None,
) -> RunLog:
    """Run one study on the surrogate with the space's sampler and pruner.

    Stops once ``budget_epochs`` epochs have been spent (trials still running then are
    abandoned: their epochs are not counted and they never complete).
    """
    sampler = build_sampler(space, n_workers=n_workers, seed_offset=seed)
    if pruner is None:
        pruner = build_pruner(space, first_eval_step=first_eval_step, max_step=max_epoch)
    study = optuna.create_study(
        direction=space.objective.direction,
        sampler=sampler,
        pruner=pruner,
        study_name=f"{space.name}-seed{seed}",
    )
    log = RunLog()
    counter = itertools.count()
    events: list[tuple[float, int, int]] = []  # (time an epoch ends, tie-break, worker)
    running: dict[int, _Running] = {}

    def start(worker: int, now: float) -> None:
        trial = study.ask()  # the sampler runs now, seeing the study as it is at ``now``
        trial.set_user_attr("sim_start", now)
        log.n_trials += 1
        curve = curve_fn(sample_params(trial, space))
        running[worker] = _Running(trial, surrogate_trainer(trial, curve), now, curve.cum_time)
        heapq.heappush(events, (now + float(curve.cum_time[0]), next(counter), worker))

    for worker in range(n_workers):
        start(worker, 0.0)
    while events and log.epochs_used < budget_epochs:
        now, _, worker = heapq.heappop(events)
        job = running[worker]
        # The epoch ending at ``now`` is reported, and the pruner asked, only now.
        epoch, value, pruned = next(job.steps)
        log.epochs_used += 1
        log.end_time = now
        if epoch == max_epoch:
            study.tell(job.trial, value)
            log.completions.append(Completion(log.epochs_used, now, value))
        elif pruned:
            study.tell(job.trial, state=TrialState.PRUNED)
            log.n_pruned += 1
        else:
            heapq.heappush(events, (job.start + float(job.cum_time[epoch]), next(counter), worker))
            continue
        del running[worker]
        if log.epochs_used < budget_epochs:
            start(worker, now)
    return log
