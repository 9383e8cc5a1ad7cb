"""A worker pool on a simulated clock: the real driver, simulated time (after syne-tune's
``SimulatorBackend``).

A trial's trainer is a :class:`SimulatedTrainer`: it yields one :class:`SimStep` per
evaluation, each with the simulated seconds since the trial started (the cost the trainer
reports, e.g. lcbench's runtime per epoch). The pool keeps every running trial's next
evaluation in a queue ordered by simulated time and, in ``wait``, handles them in that order:
the evaluation is reported to the study and the pruner asked, exactly as a real worker does, so
a sampler or pruner sees the study as it is at that simulated moment and never a value from its
future. The driver meanwhile lives on the same clock (heartbeats, reaping, status, elapsed
time): ``wait`` advances the clock to the next evaluation or to the driver's next timer.

A trial ends as a real worker ends it (:class:`~hpsearch.search.engine._worker._Ending`): the
objective is its best evaluation, errors the trainer raises follow the same failure rules (an
out-of-memory error asks for a retry with the batch halved, ...), and a trainer that raises
:class:`~hpsearch.search.engine.WorkerLost` stands for a worker that died mid-trial (the trial is
left RUNNING for the driver to retry). Simulated trials write a checkpoint only when paused
(a pausing pruner, ``promotion``): the pool commits ``checkpoint-N`` in the trial's checkpoints
folder, as a real trainer does. A task that resumes from ``.../checkpoint-N`` (a promotion, or
a retry of a lineage that paused) skips the trainer's steps up to N: its simulated seconds are
counted from step N's, its compute from step N, and its objective is the best of the whole
curve (the skipped values included). A retry with no checkpoint in its lineage starts from its
first step.

Heartbeats are kept by the :class:`SimClock` (the database stamps wall time), so the reaper
measures a trial's silence in simulated seconds.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.storages import BaseStorage

from hpsearch.search.engine._optuna_reporter import OptunaReporter, TrialSuperseded
from hpsearch.search.engine._pool_base import Clock, IdleWorkers, WorkerLost
from hpsearch.search.engine._worker import (
    TrialOutcome,
    TrialTask,
    TrialWorker,
    _Ending,
    reporter_for,
)
from hpsearch.search.records import attributes as A
from hpsearch.storage import ResilientRDBStorage, RunningTrial
from hpsearch.trainers import TrialResult, commit_checkpoint

__all__ = ["SimClock", "SimStep", "SimulatedPool", "SimulatedTrainer", "TrialRecord"]


class SimClock:
    """Simulated seconds, advanced only by a simulated pool; heartbeats kept in memory."""

    poll_interval = math.inf

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._beats: dict[int, float] = {}
        self._first_seen: dict[int, float] = {}

    def now(self) -> float:
        return self._now

    def advance_to(self, when: float) -> None:
        self._now = max(self._now, when)

    def stamp_heartbeat(self, storage: ResilientRDBStorage | BaseStorage, trial_id: int) -> None:
        self._beats[trial_id] = self._now

    def running_trials(self, storage: ResilientRDBStorage, study_id: int) -> list[RunningTrial]:
        """RUNNING trials aged in simulated seconds: since their newest heartbeat on this
        clock, or (none yet) since this clock first saw them running."""
        out = []
        for row in storage.running_trials(study_id):
            first = self._first_seen.setdefault(row.trial_id, self._now)
            beat = self._beats.get(row.trial_id)
            out.append(
                RunningTrial(
                    row.trial_id,
                    row.number,
                    None if beat is None else self._now - beat,
                    self._now - first,
                )
            )
        return out


@dataclass(frozen=True)
class SimStep:
    """One evaluation of a simulated trial."""

    step: int  # the training step (or epoch) evaluated; compute is counted in these
    value: float  # the objective there
    seconds: float  # simulated seconds from the trial's start until this evaluation
    final: bool = False  # the trial's last step: it completes here and is never pruned here


class SimulatedTrainer(Protocol):
    """Trains one simulated trial: its evaluations, in order, given the sampled parameters.

    It may raise the trainers' failure classes (``OutOfMemoryError``, ``NonFiniteLossError``,
    ...) or ``WorkerLost`` between two steps; the pool handles them as a real worker would.
    """

    def __call__(self, task: TrialTask, params: Mapping[str, Any]) -> Iterable[SimStep]: ...


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial as the pool saw it: for benchmarks' trajectories."""

    number: int
    state: str  # COMPLETE | PRUNED | FAIL | SUPERSEDED | LOST
    value: float | None  # the told objective (COMPLETE only)
    compute: float  # the pool's compute used (steps, all trials) when it finished
    time: float  # simulated seconds when it finished
    steps: int  # steps this trial trained (after the checkpoint it resumed from)


@dataclass
class _Job:
    ref: int
    worker: int
    task: TrialTask
    start: float
    reporter: OptunaReporter
    ending: _Ending
    steps: Iterator[SimStep] = field(default_factory=lambda: iter(()))
    pending: SimStep | BaseException | None = None  # None: the trainer has ended
    history: list[tuple[int, float]] = field(default_factory=list)
    last_step: int = 0
    last_time: float = 0.0
    resumed_at: int = 0  # the checkpoint's step a resumed trial starts after
    offset: float = 0.0  # the trainer's seconds at that step (time starts there)


class SimulatedPool(IdleWorkers):
    """``size`` simulated workers on a :class:`SimClock` (see the module docstring).

    ``compute_budget``: once the steps trained by all trials reach it the pool is
    ``exhausted()``: the driver starts no further trial, and running ones finish.
    """

    def __init__(
        self,
        size: int,
        trainer: SimulatedTrainer,
        *,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        compute_budget: float | None = None,
        clock: SimClock | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"a simulated pool needs at least 1 worker, got {size}")
        self.size = size
        self.trainer = trainer
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.compute_budget = compute_budget
        self.sim_clock = clock or SimClock()
        self.clock: Clock = self.sim_clock
        self.compute_used = 0.0
        self.records: list[TrialRecord] = []
        self._workers: list[TrialWorker] = []
        self._all_idle(0)
        self._jobs: dict[int, _Job] = {}
        self._events: list[tuple[float, int, int]] = []  # (simulated time, tie-break, ref)
        self._refs = itertools.count(1)
        self._order = itertools.count()

    # -- workers --------------------------------------------------------------------------
    def start(self) -> None:
        self._workers = [TrialWorker(i + 1) for i in range(self.size)]
        self._all_idle(self.size)

    def replace(self, index: int) -> None:
        self._workers[index] = TrialWorker(index + 1)
        self.release(index)

    def is_worker_lost(self, exc: BaseException) -> bool:
        return isinstance(exc, WorkerLost)

    def exhausted(self) -> bool:
        return self.compute_budget is not None and self.compute_used >= self.compute_budget

    def shutdown(self) -> None:
        self._jobs.clear()
        self._events.clear()
        self._idle.clear()

    # -- trials ---------------------------------------------------------------------------
    def submit(self, index: int, task: TrialTask) -> int:
        if not self._workers:
            raise RuntimeError("the simulated pool is not started (call start() first)")
        study = self._workers[index]._study(task)
        reporter = reporter_for(study, task)
        now = self.sim_clock.now()
        ending = _Ending(self._workers[index], task, study, reporter, now, self.sim_clock.now)
        job = _Job(next(self._refs), index, task, now, reporter, ending, last_time=now)
        job.resumed_at = job.last_step = _checkpoint_step(task.config.paths.resume_from)
        reporter.record(
            {
                A.NODE: f"simulated:{index + 1}",
                A.WORKER: index + 1,
                A.RAY_NODE_ID: "simulated",
                A.GPU_IDS: "none",
            }
        )
        self._jobs[job.ref] = job
        try:
            job.steps = iter(self.trainer(task, reporter.trial.params))
        except Exception as exc:  # the trainer refused the trial before its first step
            job.pending = exc
            self._push(job, now)
            return job.ref
        self._advance(job)
        return job.ref

    def _push(self, job: _Job, when: float) -> None:
        heapq.heappush(self._events, (when, next(self._order), job.ref))

    def _advance(self, job: _Job) -> None:
        """Fetch the trial's next evaluation (or its end) and queue it at its time."""
        while True:
            try:
                nxt: SimStep | BaseException | None = next(job.steps)
            except StopIteration:
                nxt = None
            except Exception as exc:  # raised between two steps: it happens right after the last
                nxt = exc
            if not isinstance(nxt, SimStep) or nxt.step > job.resumed_at:
                break
            job.offset = nxt.seconds  # trained before the checkpoint: skipped, not re-run
            if math.isfinite(nxt.value):
                job.history.append((nxt.step, nxt.value))
        job.pending = nxt
        when = job.last_time
        if isinstance(nxt, SimStep):
            when = max(job.last_time, job.start + nxt.seconds - job.offset)
        self._push(job, when)

    def wait(self, refs: list[Any], timeout: float) -> list[tuple[Any, Any]]:
        """Handle queued evaluations in simulated-time order until a trial ends or the clock
        reaches ``timeout`` from now; returns the ended trial (at most one per call, so the
        driver refills its worker at that very moment)."""
        deadline = self.sim_clock.now() + timeout
        wanted = set(refs)
        while self._events and self._events[0][0] <= deadline:
            when, _, ref = heapq.heappop(self._events)
            job = self._jobs.get(ref)
            if job is None or ref not in wanted:
                continue
            self.sim_clock.advance_to(when)
            result = self._handle(job)
            if result is not None:
                del self._jobs[ref]
                return [(ref, result)]
        if math.isfinite(deadline):
            self.sim_clock.advance_to(deadline)
        return []

    def _handle(self, job: _Job) -> TrialOutcome | BaseException | None:
        """One queued event of ``job``; its result once the trial has ended, else None."""
        item = job.pending
        if isinstance(item, WorkerLost):
            self._record(job, "LOST", None)
            return item
        try:
            if isinstance(item, BaseException):
                if not isinstance(item, Exception):
                    raise item
                return self._finish(job, job.ending.after_error(item))
            if item is None:
                return self._finish(job, job.ending.finished(self._result(job, pruned=False)))
            self.compute_used += max(0, item.step - job.last_step)
            job.last_step, job.last_time = item.step, self.sim_clock.now()
            job.reporter.report(item.step, item.value)
            if math.isfinite(item.value):
                job.history.append((item.step, item.value))
            self.sim_clock.stamp_heartbeat(job.reporter.storage, job.task.trial_id)
            if not item.final and job.reporter.should_prune():
                if job.reporter.paused_at is not None:
                    self._pause_checkpoint(job, item)
                return self._finish(job, job.ending.finished(self._result(job, pruned=True)))
        except TrialSuperseded as exc:  # reaped while it ran: a retry owns it now
            return self._finish(
                job, {"number": job.task.number, "state": "SUPERSEDED", "reason": str(exc)}
            )
        self._advance(job)
        return None

    @staticmethod
    def _pause_checkpoint(job: _Job, item: SimStep) -> None:
        """A paused trial commits its checkpoint at the pause step (as the trainers do)."""
        folder = Path(job.task.config.paths.checkpoints_dir) / f"checkpoint-{item.step}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "simulated_state.json").write_text(json.dumps({"step": item.step}))
        commit_checkpoint(folder, step=item.step, metric=item.value)

    def _result(self, job: _Job, *, pruned: bool) -> TrialResult:
        """As the trainers' runners: the objective is the trial's best evaluation."""
        if not job.history:
            raise RuntimeError(f"simulated trial {job.task.number} ended without an evaluation")
        greater = job.task.space.objective.direction == "maximize"
        best = (max if greater else min)(job.history, key=lambda h: h[1])
        metric = job.task.space.objective.metric
        result = TrialResult(
            status="pruned" if pruned else "complete",
            value=best[1],
            best_step=best[0],
            last_step=job.last_step,
            metrics={metric: best[1]},
        )
        if pruned:
            result.reason = f"pruned by the search at step {job.last_step}"
        return result

    def _finish(self, job: _Job, outcome: Mapping[str, Any]) -> TrialOutcome:
        now = self.sim_clock.now()
        self._record(job, str(outcome["state"]), outcome.get("value"))
        return TrialOutcome(
            **{
                **outcome,
                "wall_time_s": round(now - job.start, 3),
                "node": f"simulated:{job.worker + 1}",
                "started": job.start,
                "ended": now,
            }
        )

    def _record(self, job: _Job, state: str, value: float | None) -> None:
        self.records.append(
            TrialRecord(
                job.task.number,
                state,
                value if state == optuna.trial.TrialState.COMPLETE.name else None,
                self.compute_used,
                self.sim_clock.now(),
                job.last_step - job.resumed_at,
            )
        )


def _checkpoint_step(resume_from: str | None) -> int:
    """The step of a ``.../checkpoint-N`` folder (0: none)."""
    match = re.search(r"checkpoint-(\d+)$", str(resume_from or "").rstrip("/"))
    return int(match.group(1)) if match else 0
