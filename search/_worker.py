"""A long-lived Ray actor that runs trials one after another.

The actor keeps its database connection, the loaded base model and the tokenised data between
trials, so there is no process start or model reload between trials. It records heartbeats,
reports to the study, and tells the final state itself; it never creates trials (only the
driver calls ``ask``) and Ray never retries it (the driver owns retries).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from hpsearch.search import _attrs as A
from hpsearch.search._artifacts import upload_trial_artifacts
from hpsearch.search._reporter import Heartbeat, OptunaReporter, TrialSuperseded
from hpsearch.search.policy import build_pruner
from hpsearch.spaces import SearchSpace
from hpsearch.storage import RedactingStream, open_storage, parse_storage_url
from hpsearch.trainers import (
    MemoryEstimateError,
    NonFiniteLossError,
    OutOfMemoryError,
    TrialConfig,
    TrialError,
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
        with Heartbeat(study._storage, task.trial_id, task.heartbeat_interval):
            reporter = OptunaReporter(study, task.trial_id)
            try:
                reporter.record(
                    {
                        A.NODE: node,
                        A.WORKER: self.worker_id,
                        A.RAY_NODE_ID: self._node_id(),
                        A.GPU_IDS: self._gpu_ids(),
                    }
                )
                outcome = self._run_and_tell(task, study, reporter)
            except TrialSuperseded as exc:  # reaped while running: a retry owns it now
                outcome = {"number": task.number, "state": "SUPERSEDED", "reason": str(exc)}
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
        self, task: TrialTask, study: optuna.Study, reporter: OptunaReporter
    ) -> dict[str, Any]:
        number = task.number
        wall_start = time.time()

        def attrs(values: dict[str, Any]) -> None:
            reporter.record(values)

        try:
            result = runner_for(task.config.model.task_type).run(task.config, reporter)
        except TrialSuperseded:
            raise
        except NonFiniteLossError as exc:
            attrs(
                {
                    A.PRUNE_REASON: f"non-finite loss: {exc}",
                    A.INFEASIBLE: "non_finite_loss",
                    A.WALL_TIME: round(time.time() - wall_start, 3),
                }
            )
            reporter.trial.set_constraint("finite_loss", 1.0)
            return self._tell(study, number, TrialState.PRUNED, None, str(exc), exc.kind)
        except OutOfMemoryError as exc:
            per_device = task.config.hparams.per_device_train_batch_size
            if task.oom_downscale == 1 and per_device % 2 == 0:
                reason = (
                    f"{exc}; retrying with per-device batch {per_device // 2} and "
                    f"{task.config.hparams.gradient_accumulation_steps * 2}x accumulation"
                )
                attrs(
                    {
                        A.FAIL_REASON: reason,
                        A.RETRY_REQUESTED: A.RETRY_OOM,
                        A.WALL_TIME: round(time.time() - wall_start, 3),
                    }
                )
                return self._tell(
                    study, number, TrialState.FAIL, None, reason, exc.kind, retry=A.RETRY_OOM
                )
            reason = f"infeasible: {exc} (per-device batch {per_device} is already halved)"
            attrs(
                {
                    A.PRUNE_REASON: reason,
                    A.INFEASIBLE: "memory",
                    A.WALL_TIME: round(time.time() - wall_start, 3),
                }
            )
            reporter.trial.set_constraint("memory", 1.0)
            return self._tell(study, number, TrialState.PRUNED, None, reason, exc.kind)
        except MemoryEstimateError as exc:  # rejected before any accelerator time was spent
            attrs(
                {
                    A.PRUNE_REASON: str(exc),
                    A.INFEASIBLE: "memory",
                    A.WALL_TIME: round(time.time() - wall_start, 3),
                }
            )
            reporter.trial.set_constraint("memory", 1.0)
            return self._tell(study, number, TrialState.PRUNED, None, str(exc), exc.kind)
        except TrialError as exc:
            attrs(
                {
                    A.FAIL_REASON: f"{exc.kind}: {exc}",
                    A.WALL_TIME: round(time.time() - wall_start, 3),
                }
            )
            return self._tell(study, number, TrialState.FAIL, None, str(exc), exc.kind)
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            _logger.exception("trial %s raised an unexpected error", number)
            attrs(
                {
                    A.FAIL_REASON: f"unexpected error: {detail}",
                    A.WALL_TIME: round(time.time() - wall_start, 3),
                }
            )
            return self._tell(study, number, TrialState.FAIL, None, detail, "unexpected")
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
            A.WALL_TIME: round(time.time() - wall_start, 3),
        }
        if result.final_dir:
            finals[A.ADAPTER_DIR] = result.final_dir
        if result.reason:
            finals[A.PRUNE_REASON if result.status == "pruned" else A.STOP_REASON] = result.reason
        attrs(finals)
        if result.final_dir and task.artifacts_dir:  # before tell: Optuna refuses it after
            upload_trial_artifacts(study, task.trial_id, result.final_dir, task.artifacts_dir)
        if result.status == "pruned":
            return self._tell(study, number, TrialState.PRUNED, None, result.reason, None)
        return self._tell(study, number, TrialState.COMPLETE, result.value, result.reason, None)

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
            "reason": reason,
            "kind": kind,
            "retry": retry,
        }
