"""One study on the lcbench surrogate, run by hpsearch's real driver on the simulated pool.

The study runs exactly as ``hpsearch run`` runs one (``hpsearch.search.engine.execute``: the
space is validated and stored, the driver asks, budgets, retries, reaps and heartbeats), with
trials placed on a :class:`~hpsearch.search.engine.SimulatedPool` instead of Ray. Each trial's
trainer is the surrogate: it reports val_accuracy after every epoch, at the simulated time the
epoch ends (the surrogate's cumulative ``time``). The database is a SQLite file on a tmpfs when
there is one (``/dev/shm``), deleted after the run.

The budget counts epochs: the pool's compute budget is ``budget_epochs``; once spent, the driver
asks for no further trial and running trials finish (their epochs past the budget are not
counted: figures only look at what completed within it).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.sample_efficiency.lcbench import LcbenchSurrogate
from benchmarks.sample_efficiency.timing import DecisionTime, decision_timer
from hpsearch.search.engine import (
    RunRequest,
    SimStep,
    SimulatedPool,
    TrialRecord,
    TrialTask,
    execute,
)
from hpsearch.search.policy import validate_policy
from hpsearch.spaces import HpsearchError, load_space_file


@dataclass(frozen=True)
class Completion:
    """A trial that ran to its last epoch."""

    epochs: float  # epochs spent by all trials when it completed
    time: float  # simulated seconds when it completed
    value: float  # its objective: its best val_accuracy (as the trainers report a trial)


@dataclass
class RunLog:
    completions: list[Completion] = field(default_factory=list)
    epochs_used: float = 0.0
    n_trials: int = 0
    n_pruned: int = 0
    end_time: float = 0.0

    @classmethod
    def of(cls, records: list[TrialRecord], budget_epochs: float) -> RunLog:
        """The run as it stood when ``budget_epochs`` epochs were spent."""
        within = [r for r in records if r.compute <= budget_epochs]
        return cls(
            completions=[
                Completion(r.compute, r.time, r.value)
                for r in within
                if r.state == "COMPLETE" and r.value is not None
            ],
            epochs_used=min(budget_epochs, max((r.compute for r in records), default=0.0)),
            n_trials=len(within),
            n_pruned=sum(r.state == "PRUNED" for r in within),
            end_time=max((r.time for r in within), default=0.0),
        )

    def best_at_epochs(self, epochs: float) -> float | None:
        """The best completed value within ``epochs`` spent epochs (None before any)."""
        values = [c.value for c in self.completions if c.epochs <= epochs]
        return max(values) if values else None

    def epochs_to_reach(self, target: float) -> float | None:
        for c in self.completions:
            if c.value >= target:
                return c.epochs
        return None

    def time_to_reach(self, target: float) -> float | None:
        times = [c.time for c in self.completions if c.value >= target]
        return min(times) if times else None


class SurrogateTrainer:
    """A simulated trainer: the surrogate's learning curve of the sampled configuration."""

    def __init__(self, surrogate: LcbenchSurrogate) -> None:
        self.surrogate = surrogate

    def __call__(self, task: TrialTask, params: Mapping[str, Any]) -> Iterator[SimStep]:
        curve = self.surrogate.curve(dict(params))
        last = curve.n_epochs
        for epoch in range(1, last + 1):
            yield SimStep(
                epoch,
                float(curve.val_accuracy[epoch - 1]),
                float(curve.cum_time[epoch - 1]),
                final=epoch == last,
            )


def study_space(
    name: str,
    sampler: Mapping[str, Any],
    pruner: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    max_epoch: int,
    trials: int,
) -> dict[str, Any]:
    """An hpsearch space (as a YAML file would hold it) for one lcbench study."""
    return {
        "name": name,
        "trials": trials,
        "objective": {"metric": "eval_accuracy", "direction": "maximize"},
        "sampler": dict(sampler),
        "pruner": dict(pruner),
        "early_stopping": {"patience": None},
        "resources": {"gpus_per_trial": 0, "cpus_per_trial": 1},
        # Simulated trials of minutes: the driver's heartbeat and grace period in those terms.
        "retries": {"heartbeat_interval": 60, "grace_period": 600},
        "params": dict(params),
        "task": {"type": "simulated", "max_steps": max_epoch, "eval_steps": 1},
    }


class SpaceRejected(Exception):
    """hpsearch rejects the policy's space (e.g. a feature not merged yet): the study is skipped."""


def run_study(
    space: dict[str, Any],
    surrogate: LcbenchSurrogate,
    *,
    budget_epochs: int,
    n_workers: int,
    timer: list[DecisionTime] | None = None,
) -> RunLog:
    """Run one study through ``execute`` on a simulated pool; its log within the budget.

    The pool's compute budget is ``budget_epochs`` unless the space has its own
    ``compute_budget``. ``timer``: the study's decision time is appended to it.
    """
    tmp_root = "/dev/shm" if Path("/dev/shm").is_dir() else None
    folder = Path(tempfile.mkdtemp(prefix="hpsearch-se-", dir=tmp_root))
    try:
        space_file = folder / "space.yaml"
        space_file.write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
        try:
            parsed = load_space_file(space_file)
        except HpsearchError as exc:
            raise SpaceRejected(str(exc)) from None
        issues = validate_policy(parsed)
        if issues:
            raise SpaceRejected("; ".join(str(i) for i in issues))
        pool_budget = None if "compute_budget" in space else budget_epochs
        pool = SimulatedPool(n_workers, SurrogateTrainer(surrogate), compute_budget=pool_budget)
        with decision_timer(parsed, n_workers, surrogate.max_epoch) as decisions:
            _execute(space, folder, space_file, pool, n_workers)
        if timer is not None:
            timer.append(decisions)
        return RunLog.of(pool.records, budget_epochs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _execute(
    space: dict[str, Any], folder: Path, space_file: Path, pool: SimulatedPool, n_workers: int
) -> None:
    execute(
        RunRequest(
            space=str(space_file),
            study=space["name"],
            storage=f"sqlite:///{folder / 'study.db'}",
            checkpoint_dir=str(folder / "checkpoints"),
            workers=n_workers,
            pool=pool,
            # The driver looks for stale trials once, at its start (a study-wide read and
            # the retry repair), and prints no status lines. Neither changes a decision: a
            # simulated trial never goes stale (the pool heartbeats it at every step), and
            # the driver's timers only cut a wait short, never reorder the pool's events.
            # Reaping once per grace period cost a third of a study's CPU.
            reap_interval=float("inf"),
            status_interval=float("inf"),
        ),
        emit=lambda line: None,
    )
