"""A long-lived Ray actor that runs trials one after another.

The actor keeps its database connection, the loaded base model and the tokenised data between
trials, so there is no process start or model reload between trials. It records heartbeats,
reports to the study, and tells the final state itself; it never creates trials (only the
driver calls ``ask``) and Ray never retries it (the driver owns retries).
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from hpsearch.search.engine._optuna_reporter import (
    Heartbeat,
    OptunaReporter,
    TrialSuperseded,
    paused_reason,
)
from hpsearch.search.engine._trial_log import TrialLog, trial_log_path
from hpsearch.search.outputs import upload_trial_artifacts
from hpsearch.search.policy import build_pruner, rung_schedule
from hpsearch.search.records import FAILURES, FailureClass, failure_of, reason_line
from hpsearch.search.records import attributes as A
from hpsearch.spaces import SearchSpace
from hpsearch.storage import RedactingStream, open_storage, parse_storage_url, storage_of
from hpsearch.trainers import (
    NonFiniteLossError,
    TrialConfig,
    TrialError,
    TrialResult,
    runner_for,
)

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to run one trial (sent through Ray)."""

    storage_url: str = field(repr=False)  # may hold a password: never in a repr or a log
    study_name: str
    trial_id: int
    number: int
    config: TrialConfig
    space: SearchSpace
    first_eval_step: int
    max_step: int | None
    heartbeat_interval: float
    oom_downscale: int = 1
    artifacts_dir: str | None = None  # upload a complete trial's final folder here


@dataclass(frozen=True)
class TrialOutcome:
    number: int
    state: str  # COMPLETE | PRUNED | FAIL | SUPERSEDED
    value: float | None = None
    reason: str | None = None
    kind: str | None = None
    retry: str | None = None
    wall_time_s: float = 0.0
    node: str = ""
    started: float = 0.0
    ended: float = 0.0


def reporter_for(study: optuna.Study, task: TrialTask) -> OptunaReporter:
    """The trial's reporter, told the pruner's rung steps (asked only where it can decide)."""
    rungs = rung_schedule(task.space, first_eval_step=task.first_eval_step)
    return OptunaReporter(study, task.trial_id, rungs)


class TrialWorker:
    """Ray actor body (wrapped with ``ray.remote`` by the driver)."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id
        self._studies: dict[tuple[str, str], optuna.Study] = {}
        self.trials_run = 0
        logging.getLogger("optuna").setLevel(logging.WARNING)
        for name in ("stdout", "stderr"):  # the worker's log files never show a DB password
            stream = getattr(sys, name)
            if not isinstance(stream, RedactingStream):
                setattr(sys, name, RedactingStream(stream))

    def info(self) -> dict[str, Any]:
        import ray

        ctx = ray.get_runtime_context()
        return {
            "node_id": ctx.get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "worker_id": self.worker_id,
        }

    @staticmethod
    def _gpu_ids() -> str:
        import ray

        return ",".join(str(g) for g in ray.get_gpu_ids()) or "none"

    @staticmethod
    def _node_id() -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def _study(self, task: TrialTask) -> optuna.Study:
        key = (task.storage_url, task.study_name)
        if key not in self._studies:
            storage = open_storage(
                parse_storage_url(task.storage_url), check=False, create_schema=False
            )
            pruner = build_pruner(
                task.space, first_eval_step=task.first_eval_step, max_step=task.max_step
            )
            self._studies[key] = optuna.load_study(
                study_name=task.study_name,
                storage=storage,
                pruner=pruner,
                sampler=optuna.samplers.RandomSampler(),
            )
        return self._studies[key]

    def run(self, task: TrialTask) -> TrialOutcome:
        started = time.time()
        study = self._study(task)
        node = f"{socket.gethostname()}:{os.getpid()}"
        log_path = trial_log_path(task.config.paths.checkpoints_dir)
        with (
            TrialLog(log_path) as log,
            Heartbeat(storage_of(study), task.trial_id, task.heartbeat_interval),
        ):
            log.write(
                f"trial {task.number} of study {task.study_name!r} on {node} "
                f"(worker {self.worker_id})"
            )
            log.write("configuration: " + json.dumps(task.config.to_dict(), default=str))
            reporter = reporter_for(study, task)
            try:
                where = {
                    A.NODE: node,
                    A.WORKER: self.worker_id,
                    A.RAY_NODE_ID: self._node_id(),
                    A.GPU_IDS: self._gpu_ids(),
                }
                if log.path is not None:
                    where[A.LOG_FILE] = str(log.path)
                reporter.record(where)
                outcome = self._run_and_tell(task, study, reporter, log)
            except TrialSuperseded as exc:  # reaped while running: a retry owns it now
                outcome = {"number": task.number, "state": "SUPERSEDED", "reason": str(exc)}
            except Exception as exc:  # reporting failed: one line for the driver, no traceback
                log.exception(f"trial {task.number}: the worker failed to report it", exc)
                message = f"the worker failed to report trial {task.number}: {exc!r}"
                raise RuntimeError(reason_line(message)) from None
            value = f" {outcome['value']}" if outcome.get("value") is not None else ""
            why = f" ({outcome['reason']})" if outcome.get("reason") else ""
            log.write(f"outcome: {outcome['state']}{value}{why}")
        self.trials_run += 1
        return TrialOutcome(
            **{
                **outcome,
                "wall_time_s": round(time.time() - started, 3),
                "node": node,
                "started": started,
                "ended": time.time(),
            }
        )

    def _run_and_tell(
        self, task: TrialTask, study: optuna.Study, reporter: OptunaReporter, log: TrialLog
    ) -> dict[str, Any]:
        ended = _Ending(self, task, study, reporter, time.time())
        try:
            result = runner_for(task.config.model.task_type).run(task.config, reporter)
        except TrialSuperseded:
            raise
        except Exception as exc:
            log.exception(f"trial {task.number}: {getattr(exc, 'kind', 'unexpected')} error", exc)
            return ended.after_error(exc)
        if result.value is not None and not math.isfinite(result.value):
            # a runner that returned its non-finite objective instead of raising
            return ended.after_error(
                NonFiniteLossError(
                    f"{task.space.objective.metric} is {result.value} at step {result.best_step}",
                    step=result.best_step,
                )
            )
        return ended.finished(result)

    @staticmethod
    def _tell(
        study: optuna.Study,
        number: int,
        state: TrialState,
        value: float | None,
        reason: str | None,
        kind: str | None,
        retry: str | None = None,
    ) -> dict[str, Any]:
        frozen = study.tell(number, value, state=state, skip_if_finished=True)
        if frozen.state != state or (value is not None and frozen.value != value):
            return {
                "number": number,
                "state": "SUPERSEDED",
                "reason": f"trial was already {frozen.state.name}",
            }
        return {
            "number": number,
            "state": state.name,
            "value": value,
            "reason": reason_line(reason) if reason else reason,
            "kind": kind,
            "retry": retry,
        }


@dataclass
class _Ending:
    """Records a trial's end (attributes, constraint) and tells its state to the study."""

    worker: TrialWorker
    task: TrialTask
    study: optuna.Study
    reporter: OptunaReporter
    wall_start: float
    clock: Callable[[], float] = time.time  # a simulated pool's clock measures simulated time

    def attrs(self, values: dict[str, Any]) -> None:
        reasons = (A.FAIL_REASON, A.PRUNE_REASON, A.STOP_REASON)
        values = {k: reason_line(v) if k in reasons else v for k, v in values.items()}
        self.reporter.record({**values, A.WALL_TIME: round(self.clock() - self.wall_start, 3)})

    def tell(
        self,
        state: TrialState,
        value: float | None,
        reason: str | None,
        kind: str | None,
        retry: str | None = None,
    ) -> dict[str, Any]:
        return self.worker._tell(self.study, self.task.number, state, value, reason, kind, retry)

    def infeasible(
        self, reason: str, failure: FailureClass, kind: str, told: str | None = None
    ) -> dict[str, Any]:
        """PRUNED, with a constraint so that TPE ranks the region last; never retried."""
        self.attrs({A.PRUNE_REASON: reason, A.INFEASIBLE: failure.infeasible})
        if failure.constraint is not None:
            self.reporter.trial.set_constraint(failure.constraint, 1.0)
        return self.tell(TrialState.PRUNED, None, told or reason, kind)

    def after_error(self, exc: Exception) -> dict[str, Any]:
        """The end of a trial whose runner raised ``exc``: its row of the failure table."""
        failure = failure_of(exc)
        if isinstance(exc, TrialError):
            kind, text = exc.kind, str(exc)
        else:
            kind = failure.kind
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            _logger.error("trial %s raised an unexpected error: %s", self.task.number, text)
        if failure.retry is not None:
            return self._retry_or_give_up(text, failure, kind)
        if failure.state == TrialState.PRUNED:
            reason = f"{failure.label}: {text}" if failure.label else text
            return self.infeasible(reason, failure, kind, text)
        self.attrs({A.FAIL_REASON: f"{failure.label or kind}: {text}"})
        return self.tell(failure.state, None, text, kind)

    def _retry_or_give_up(self, text: str, failure: FailureClass, kind: str) -> dict[str, Any]:
        """FAIL and ask for a retry with a divided batch, or the row's ``otherwise``."""
        rule, otherwise = failure.retry, failure.otherwise
        if rule is not None and rule.batch_divisor == 1:  # e.g. a rank of the trial died
            reason = f"{failure.label or kind}: {text}; retrying from the last checkpoint"
            self.attrs({A.FAIL_REASON: reason, A.RETRY_REQUESTED: failure.kind})
            return self.tell(failure.state, None, reason, kind, retry=failure.kind)
        if rule is None or otherwise is None:  # tests/search/test_failures.py pins the table
            raise RuntimeError(f"failure class {failure.kind!r} has no retry rule or otherwise")
        hparams = self.task.config.hparams
        per_device = hparams.per_device_train_batch_size
        if rule.can_divide(downscale=self.task.oom_downscale, per_device_batch=per_device):
            reason = (
                f"{text}; retrying with per-device batch {per_device // rule.batch_divisor} "
                f"and {hparams.gradient_accumulation_steps * rule.batch_divisor}x accumulation"
            )
            self.attrs({A.FAIL_REASON: reason, A.RETRY_REQUESTED: failure.kind})
            return self.tell(failure.state, None, reason, kind, retry=failure.kind)
        reason = f"infeasible: {text} (per-device batch {per_device} is already halved)"
        return self.infeasible(reason, FAILURES[otherwise], kind)

    def finished(self, result: TrialResult) -> dict[str, Any]:
        """The end of a trial whose runner returned (complete, pruned or stopped early)."""
        stats = {k: v for k, v in result.stats.items() if v is not None}
        finals = {
            **stats,
            **{
                f"final_{k}": v
                for k, v in result.metrics.items()
                if not k.endswith(("_runtime", "_per_second"))
            },
            "best_step": result.best_step,
            "last_step": result.last_step,
        }
        if result.final_dir:
            finals[A.ADAPTER_DIR] = result.final_dir
        if result.status == "pruned" and self.reporter.paused_at is not None:
            result.reason = paused_reason(self.reporter.paused_at)  # kept: it may be promoted
        if result.reason:
            finals[A.PRUNE_REASON if result.status == "pruned" else A.STOP_REASON] = result.reason
        self.attrs(finals)
        if result.final_dir and self.task.artifacts_dir:  # before tell: Optuna refuses it after
            upload_trial_artifacts(
                self.study, self.task.trial_id, result.final_dir, self.task.artifacts_dir
            )
        if result.status == "pruned":
            return self.tell(TrialState.PRUNED, None, result.reason, None)
        return self.tell(TrialState.COMPLETE, result.value, result.reason, None)
