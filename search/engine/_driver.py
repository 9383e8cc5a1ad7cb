"""The driver: asks Optuna for trials and places each on a Ray worker until the budget is met.

Only the driver calls ``ask`` (under the study lock, so parallel drivers never overshoot the
budget); workers report, heartbeat and tell. Worker deaths, stale trials and out-of-memory
failures become retries in one place (:mod:`hpsearch.search.engine._reaper`). Everything
resume needs is in the study: Ray holds no state of its own.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import optuna

from hpsearch.search.engine._budget import BudgetedAsker
from hpsearch.search.engine._driver_config import (
    DriverConfig,
    Interrupted,
    RunSummary,
    WorkerStartupError,
)
from hpsearch.search.engine._reaper import end_lost_trial, owner_token, reap_stale, repair
from hpsearch.search.engine._resume import apply_disk_rule, copy_values, resume_point
from hpsearch.search.engine._trial_config import build_trial_config
from hpsearch.search.engine._trial_log import append_to_trial_log, trial_log_path
from hpsearch.search.engine._worker import TrialOutcome, TrialTask
from hpsearch.search.policy import (
    DistinctSampler,
    SpaceExhaustedError,
    exhausted_line,
    sample_params,
)
from hpsearch.search.records import (
    Ledger,
    Progress,
    reason_line,
    strip_ansi,
    summary_lines,
)
from hpsearch.search.records import attributes as A
from hpsearch.spaces import BatchRuleError
from hpsearch.storage import (
    named_lock,
    storage_of,
    trial_id_of,
)
from hpsearch.trainers import finalize_checkpoints

_logger = logging.getLogger(__name__)


@dataclass
class _InFlight:
    trial_id: int
    number: int
    worker: int


class Driver:
    def __init__(self, cfg: DriverConfig) -> None:
        self.cfg = cfg
        self.study = cfg.study
        self.space = cfg.meta.space
        self.budget = cfg.meta.budget
        self.max_retries = self.space.retries.max_retries
        self.owner = owner_token()
        self.asker = BudgetedAsker(
            cfg.study,
            cfg.location,
            cfg.storage,
            self.budget,
            self.max_retries,
            self.owner,
            compute_budget=cfg.meta.compute_budget,
            full_steps=cfg.meta.full_steps,
        )
        if isinstance(cfg.study.sampler, DistinctSampler):
            # Drivers of one study claim configurations one at a time (a short lock of its own).
            name = f"hpsearch:configurations:{cfg.study.study_name}"
            cfg.study.sampler.use_claim_lock(lambda: named_lock(cfg.location, name))
        self.inflight: dict[Any, _InFlight] = {}
        self.clock = cfg.pool.clock  # all the driver's time: wall or simulated
        self.progress = Progress(
            cfg.emit,
            self.budget,
            self.space.objective.metric,
            clock=self.clock.now,
            compute=self.asker.compute if self.asker.compute_budget is not None else None,
        )
        self._stop_signal: int | None = None
        self._startup_failures = 0

    # -- budget -------------------------------------------------------------------------
    def ledger(self) -> Ledger:
        return self.asker.ledger()

    def done(self, ledger: Ledger) -> bool:
        return self.asker.done(ledger, inflight=bool(self.inflight))

    # -- dispatch -----------------------------------------------------------------------
    def _dispatch(self, trial: optuna.Trial, worker: int) -> None:
        try:
            params = sample_params(trial, self.space)
        except SpaceExhaustedError as exc:  # a finite space ran out while this trial was made
            self._fail_before_start(trial, worker, str(exc))
            return
        attrs = trial.user_attrs
        downscale = int(attrs.get(A.OOM_DOWNSCALE, 1))
        resume = None
        if attrs.get(A.RETRY_OF) is not None or attrs.get(A.PROMOTED_FROM) is not None:
            frozen = storage_of(self.study).get_trial(trial_id_of(trial))
            resume = resume_point(frozen, self.ledger(), self.cfg.paths.checkpoints_dir)
        resume_from = resume.checkpoint if resume else None
        try:
            config, resolved = build_trial_config(
                space=self.space,
                task=self.cfg.meta.task,
                params=params,
                study_name=self.study.study_name,
                number=trial.number,
                paths=self.cfg.paths,
                resume_from=resume_from,
                oom_downscale=downscale,
                cpus=self.cfg.pool.cpus_per_trial,
                gpu_fraction=self.cfg.pool.gpus_per_trial or 1.0,
            )
        except BatchRuleError as exc:
            self._fail_before_start(trial, worker, str(exc))
            return
        dispatched = {
            A.EFFECTIVE_BATCH: resolved.effective_batch_size,
            A.GRAD_ACCUM: resolved.gradient_accumulation_steps,
            A.PER_DEVICE_BATCH: resolved.per_device_train_batch_size,
            A.LEARNING_RATE_USED: resolved.learning_rate,
            A.CHECKPOINT_DIR: config.paths.checkpoints_dir,
            A.RESUMED_FROM: resume_from,
            A.RESUMED_AT: resume.step if resume else None,
        }
        self.cfg.storage.set_trial_user_attrs(
            trial_id_of(trial), {k: v for k, v in dispatched.items() if v is not None}
        )
        if resume and resume.copied:  # one curve: the paused predecessor's values, then its own
            copy_values(self.cfg.storage, trial_id_of(trial), resume.copied)
        task = TrialTask(
            storage_url=self.cfg.location.url,
            study_name=self.study.study_name,
            trial_id=trial_id_of(trial),
            number=trial.number,
            config=config,
            space=self.space,
            first_eval_step=self.cfg.first_eval_step,
            max_step=self.cfg.max_step,
            heartbeat_interval=self.space.retries.heartbeat_interval,
            oom_downscale=downscale,
            artifacts_dir=str(self.cfg.paths.artifacts_dir),
        )
        self.clock.stamp_heartbeat(self.cfg.storage, trial_id_of(trial))
        ref = self.cfg.pool.submit(worker, task)
        self.inflight[ref] = _InFlight(trial_id_of(trial), trial.number, worker)
        note = f", resuming {Path(resume_from).name}" if resume_from else ""
        if attrs.get(A.PROMOTED_FROM) is not None:
            note = f", promoted from trial {attrs[A.PROMOTED_FROM]}{note}"
        self.cfg.emit(f"  trial {trial.number}: started on worker {worker}{note}")

    def _fail_before_start(self, trial: optuna.Trial, worker: int, reason: str) -> None:
        self.cfg.storage.set_trial_user_attr(trial_id_of(trial), A.FAIL_REASON, reason)
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.cfg.emit(f"  trial {trial.number}: failed before start ({reason})")
        self.cfg.pool.release(worker)

    def _fill_workers(self) -> None:
        pool = self.cfg.pool
        while self._stop_signal is None and not pool.exhausted() and pool.has_idle():
            worker = self.cfg.pool.acquire()
            try:
                trial = self.asker.ask()
            except BaseException:
                self.cfg.pool.release(worker)
                raise
            if trial is None:
                self.cfg.pool.release(worker)
                return
            try:
                self._dispatch(trial, worker)
            except BaseException:
                message = "the driver failed while starting it"
                self._end_lost(trial_id_of(trial), A.RETRY_INTERRUPTED, message)
                raise

    # -- results ------------------------------------------------------------------------
    def _collect(self, timeout: float) -> bool:
        """Handle finished trials; True if any worker was lost or asked for a retry."""
        needs_repair = False
        for ref, result in self.cfg.pool.wait(list(self.inflight), timeout):
            flight = self.inflight.pop(ref)
            if isinstance(result, TrialOutcome):
                self.progress.finished_here += 1
                self.cfg.emit(self.progress.trial_line(result))
                needs_repair |= result.retry is not None
                if result.retry is None:
                    self._clean_predecessors(flight.trial_id)
                self.cfg.pool.release(flight.worker)
                continue
            lost = self.cfg.pool.is_worker_lost(result)
            message = f"{'worker lost' if lost else 'worker error'}: {result}"
            if lost:
                self._worker_lost(flight, message)
                needs_repair = True
            else:
                self._fail(flight.trial_id, message)
                self.cfg.pool.release(flight.worker)
            self.cfg.emit(f"  trial {flight.number}: {reason_line(message, 200)}")
        return needs_repair

    def _worker_lost(self, flight: _InFlight, message: str) -> None:
        """Retry the trial; a worker that died before starting it costs the trial nothing.

        Workers that keep dying before they start any trial (a broken node, an image without
        the package) would burn through the budget in seconds: stop after twice the pool size.
        """
        started = A.RAY_NODE_ID in self.cfg.storage.get_trial(flight.trial_id).user_attrs
        reason = A.RETRY_WORKER_LOST if started else A.RETRY_INTERRUPTED
        self._end_lost(flight.trial_id, reason, message)
        self.cfg.pool.replace(flight.worker)
        self._startup_failures = 0 if started else self._startup_failures + 1
        if self._startup_failures >= 2 * self.cfg.pool.size:
            raise WorkerStartupError(
                f"trial workers die before running a trial ({self._startup_failures} in a row): "
                f"{message.splitlines()[0][:300]}"
            )

    def _end_lost(self, trial_id: int, reason: str, message: str) -> None:
        """A running trial without a worker: paused if its pause was committed, else retried."""
        trial = self.cfg.storage.get_trial(trial_id)
        end_lost_trial(self.cfg.storage, trial, reason, message, self.cfg.paths.checkpoints_dir)

    def _clean_predecessors(self, trial_id: int) -> None:
        """A lineage is over: its failed predecessors keep only newest + best checkpoints."""
        frozen = storage_of(self.study).get_trial(trial_id)
        if (
            frozen.user_attrs.get(A.RETRY_OF) is None
            and frozen.user_attrs.get(A.PROMOTED_FROM) is None
        ):
            return
        greater = self.space.objective.direction == "maximize"
        for trial in self.ledger().lineage(frozen)[1:]:
            finalize_checkpoints(
                self.cfg.paths.checkpoints_dir(trial.number), greater_is_better=greater
            )

    def _free_paused(self) -> None:
        """The disk rule: paused trials that can no longer be promoted lose their checkpoints.
        Housekeeping on the reaping cadence (and at the end of a run), not after every trial:
        it reads the whole study."""
        for number in apply_disk_rule(
            self.study,
            self.cfg.location,
            self.cfg.storage,
            max_retries=self.max_retries,
            more_configurations=self.asker.more_configurations,
            checkpoints_dir=self.cfg.paths.checkpoints_dir,
        ):
            self.cfg.emit(f"  trial {number}: can no longer be promoted; its checkpoint is deleted")

    def _fail(self, trial_id: int, message: str) -> None:
        """FAIL the trial with one clean line; the full message goes to the trial's log."""
        attrs = {A.FAIL_REASON: reason_line(message)}
        try:
            number = self.cfg.storage.get_trial(trial_id).number
            log = trial_log_path(self.cfg.paths.checkpoints_dir(number))
            if append_to_trial_log(log, "driver: the worker raised", strip_ansi(message)):
                attrs[A.LOG_FILE] = str(log)
            self.cfg.storage.set_trial_user_attrs(trial_id, attrs)
            self.cfg.storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass

    def _beat(self) -> None:
        """Heartbeats for every trial this driver has in flight.

        A worker heartbeats while it runs a trial, but a worker actor may still be starting
        (importing torch, loading a model) when its first trial is dispatched: the driver keeps
        the trial alive meanwhile, so no other driver reaps it. If this driver dies, the beats
        stop and the trial is reaped after the grace period.
        """
        for flight in self.inflight.values():
            try:
                self.clock.stamp_heartbeat(self.cfg.storage, flight.trial_id)
            except Exception as exc:  # a database outage must not stop the driver
                _logger.warning("heartbeat for trial %s failed: %s", flight.number, exc)

    def _reap_and_repair(self) -> None:
        owned = frozenset(f.trial_id for f in self.inflight.values())
        reaped = reap_stale(
            self.study,
            self.cfg.storage,
            grace_period=self.space.retries.grace_period,
            skip_trial_ids=owned,
            clock=self.clock,
            checkpoints_dir=self.cfg.paths.checkpoints_dir,
        )
        for number in reaped:
            self.cfg.emit(f"  trial {number}: its worker is gone; it will be retried")
        repair(self.study, self.cfg.location, self.max_retries)
        self._free_paused()

    # -- main loop ----------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Only set a flag: raising inside Ray's or the database driver's C code is unsafe.
        The loop notices within a fraction of a second; a second signal stops at once."""
        if self._stop_signal is not None:
            raise KeyboardInterrupt
        self._stop_signal = signum

    def _check_signal(self) -> None:
        if self._stop_signal is not None:
            raise Interrupted(signal.Signals(self._stop_signal).name)

    def run(self) -> RunSummary:
        previous = (
            {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
            if self.cfg.handle_signals
            else {}
        )
        try:
            return self._loop()
        except (Interrupted, KeyboardInterrupt, WorkerStartupError):
            self._hand_over()
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _loop(self) -> RunSummary:
        clock = self.clock
        self._reap_and_repair()
        last_reap = last_beat = clock.now()
        beat_every = self.space.retries.heartbeat_interval
        while True:
            self._check_signal()
            self._fill_workers()
            # While trials are in flight the study cannot be done: the books (a walk over every
            # trial) are read only when they can end the loop or a status line is due.
            if not self.inflight and (self.cfg.pool.exhausted() or self.done(self.ledger())):
                break
            if clock.now() - last_beat >= beat_every:
                self._beat()
                last_beat = clock.now()
            timers = (last_beat + beat_every, last_reap + self.cfg.reap_interval)
            if self._collect(timeout=self._wait_timeout(timers)):
                repair(self.study, self.cfg.location, self.max_retries)
            if clock.now() - last_reap >= self.cfg.reap_interval:
                self._reap_and_repair()
                last_reap = clock.now()
            if self.progress.status_due(self.cfg.status_interval):
                self.progress.maybe_status(
                    self.asker.ledger(fresh=True), self.study, self.cfg.status_interval
                )
        self._free_paused()
        ledger = self.asker.ledger(fresh=True)
        elapsed = self.progress.elapsed()
        lines = summary_lines(
            self.study,
            ledger,
            self.budget,
            elapsed,
            self.space.objective.metric,
            compute=self.asker.compute(ledger) if self.asker.compute_budget else None,
        )
        if not self.asker.trials_met(ledger.slots_used) and self.asker.exhausted():
            lines.insert(1, exhausted_line(self.study.sampler, self.space.name, self.budget))
        return RunSummary(ledger, elapsed, lines)

    def _wait_timeout(self, timers: tuple[float, ...]) -> float:
        """How long one ``wait`` may block: the clock's poll interval (five times it with no
        trial in flight), and never past the driver's next timer (heartbeats, reaping, status
        line). On a simulated clock (poll interval ``inf``) the timers alone set it."""
        poll = self.clock.poll_interval * (1 if self.inflight else 5)
        due = [*timers, self.progress.last_line + self.cfg.status_interval]
        now = self.clock.now()
        return max(0.0, min(poll, *(t - now for t in due)))

    def _hand_over(self) -> None:
        """On SIGINT/SIGTERM: stop workers, turn running trials into retries for resume."""
        if self.cfg.handle_signals:  # restored by run(); never left behind in a notebook
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.cfg.pool.shutdown()  # first, so no worker reports after its trial is handed over
        for flight in self.inflight.values():  # a committed pause ends paused, not retried
            self._end_lost(flight.trial_id, A.RETRY_INTERRUPTED, "the driver was interrupted")
        self.inflight.clear()
        repair(self.study, self.cfg.location, self.max_retries)
