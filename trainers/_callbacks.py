"""Trainer callbacks: objective reporting and pruning, loss guards, checkpoint commits, stats."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from hpsearch.trainers import _checkpoints, _distributed, _failpoints
from hpsearch.trainers._base import (
    CheckpointWriteError,
    NonFiniteLossError,
    Reporter,
    ScheduleConfig,
)
from hpsearch.trainers._stats import MemoryMeter


def is_pausing(reporter: Reporter) -> bool:
    """Whether the stop ``reporter.should_prune()`` just asked for is a pause (a checkpoint is
    committed at this step for a successor to continue from). A user's reporter without
    ``pausing`` never pauses."""
    return bool(getattr(reporter, "pausing", lambda: False)())


class ObjectiveCallback(TrainerCallback):
    """Report the objective at every evaluation; stop at once when the search says prune.

    When the stop is a pause (:meth:`Reporter.pausing`), HF saves a checkpoint at that very step
    (``control.should_save``) and :class:`CheckpointCommitCallback` commits it; otherwise no
    checkpoint is written for a pruned trial's last step.

    Must run before HF's best-model bookkeeping sees the metrics: it adds ``eval_perplexity``.
    """

    def __init__(
        self,
        reporter: Reporter,
        schedule: ScheduleConfig,
        failpoint_context: dict[str, Any] | None = None,
    ) -> None:
        self.reporter = reporter
        self.schedule = schedule
        self.failpoint_context = failpoint_context or {}
        self.pruned_at: int | None = None
        self.paused_global_step: int | None = None  # the optimizer step of a pause checkpoint
        self.history: list[tuple[int, float]] = []
        self.eval_seconds = 0.0
        self._eval_started: float | None = None

    def fidelity_step(self, state: Any) -> int:
        if self.schedule.fidelity == "tokens":
            return int(state.num_input_tokens_seen)
        return int(state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {loss} at step {state.global_step}", step=state.global_step
            )

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if control.should_evaluate:
            self._eval_started = time.perf_counter()

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any
    ) -> None:
        if self._eval_started is not None:
            self.eval_seconds += time.perf_counter() - self._eval_started
            self._eval_started = None
        metrics = metrics if metrics is not None else {}
        if "eval_loss" in metrics and "eval_perplexity" not in metrics:
            loss = metrics["eval_loss"]
            metrics["eval_perplexity"] = math.exp(min(loss, 700.0)) if math.isfinite(loss) else loss
        if self.schedule.metric not in metrics:
            raise KeyError(
                f"objective metric {self.schedule.metric!r} is not among the "
                f"evaluation metrics: {', '.join(sorted(metrics))}"
            )
        value = float(metrics[self.schedule.metric])
        action = _failpoints.triggered(
            "eval.metric", step=state.global_step, **self.failpoint_context
        )
        if action in ("nan", "inf"):
            value = metrics[self.schedule.metric] = float(action)
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"{self.schedule.metric} became {value} at step {state.global_step}",
                step=state.global_step,
            )
        step = self.fidelity_step(state)
        self.history.append((step, value))
        self.reporter.report(step, value)
        # A trial that trained its full budget is complete with its value: the pruner is not
        # asked at the last evaluation (a median pruner would discard the result).
        final = bool(state.max_steps) and state.global_step >= state.max_steps
        if not final and self.reporter.should_prune():
            self.pruned_at = step
            paused = is_pausing(self.reporter)
            self.paused_global_step = int(state.global_step) if paused else None
            control.should_training_stop = True
            control.should_save = paused

    @property
    def paused(self) -> bool:
        return self.paused_global_step is not None

    def stop_reason(self) -> str | None:
        """Why the search stopped the trial (None when it did not)."""
        if self.pruned_at is None:
            return None
        if self.paused:
            return f"paused at step {self.pruned_at}"
        return f"pruned by the search at step {self.pruned_at}"

    def pause_stats(self, checkpoints_dir: Path) -> dict[str, Any]:
        """A paused trial's step and its committed pause checkpoint (what a successor resumes
        from; None if it is not committed); nothing for a trial that was not paused."""
        if self.paused_global_step is None:
            return {}
        folder = checkpoints_dir / f"checkpoint-{self.paused_global_step}"
        committed = _checkpoints.is_complete(folder)
        return {
            "paused_at_step": self.pruned_at,
            "paused_checkpoint": str(folder) if committed else None,
        }


class CheckpointCommitCallback(TrainerCallback):
    """Commit each checkpoint HF writes (atomic marker) and keep only newest + best.

    In a multi-process trial every rank writes its part (rank 0 the weights, each rank its RNG
    state); after a barrier rank 0 alone commits, so a checkpoint is committed exactly once.
    """

    def __init__(
        self, checkpoints_dir: Path, objective: ObjectiveCallback, failpoint_context: dict[str, Any]
    ) -> None:
        self.checkpoints_dir = checkpoints_dir
        self.objective = objective
        self.failpoint_context = failpoint_context
        self.committed: list[int] = []

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        _distributed.barrier()  # every rank has written its files
        if not _distributed.is_main():
            return
        folder = self.checkpoints_dir / f"checkpoint-{state.global_step}"
        context = {"step": state.global_step, **self.failpoint_context}
        action = _failpoints.triggered("checkpoint.write", **context)
        if action == "tear":  # a kill in the middle of HF's write: a file is cut short
            biggest = max(
                (p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
            )
            with open(biggest, "r+b") as handle:
                handle.truncate(biggest.stat().st_size // 2)
        if action in ("kill", "tear"):
            _failpoints.kill_self()
        metric = self.objective.history[-1][1] if self.objective.history else None
        try:
            if action == "enospc":
                _failpoints.raise_enospc()
            _checkpoints.commit(folder, step=state.global_step, metric=metric)
        except OSError as exc:
            raise CheckpointWriteError(
                _checkpoints.describe_write_error(exc, folder), step=state.global_step
            ) from exc
        self.committed.append(state.global_step)
        keep = [state.best_model_checkpoint] if state.best_model_checkpoint else []
        _checkpoints.retain(self.checkpoints_dir, keep=[Path(p) for p in keep])


class StatsCallback(TrainerCallback):
    """Publish throughput and peak memory to the reporter after each evaluation."""

    def __init__(self, reporter: Reporter, effective_batch: int, meter: MemoryMeter) -> None:
        self.reporter = reporter
        self.effective_batch = effective_batch
        self.meter = meter
        self.started = time.perf_counter()
        self.first_step: int | None = None
        self.first_tokens = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.started = time.perf_counter()
        self.first_step = state.global_step
        self.first_tokens = int(state.num_input_tokens_seen or 0)

    def rates(self, state: Any) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        steps = state.global_step - (self.first_step or 0)
        tokens = int(state.num_input_tokens_seen or 0) - self.first_tokens
        return {
            "samples_per_s": round(steps * self.effective_batch / elapsed, 3),
            "tokens_per_s": round(tokens / elapsed, 1),
        }

    def on_evaluate(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.reporter.record(
            {
                **self.rates(state),
                "peak_memory_mb": self.meter.peak_mb(),
                "last_step": state.global_step,
            }
        )
