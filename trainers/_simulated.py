"""A simulated trainer: realistic scheduling behaviour without training (after syne-tune).

It follows the same contract as the Hugging Face runner: it reports an objective at every
evaluation, stops when pruned or when early stopping fires, writes and commits real checkpoint
folders with the same protocol, resumes from them, and raises the same failure classes. Tests of
scheduling, retries and resume run on it in seconds, and the service-overhead benchmark uses
its ``seconds_per_step`` sleep as a stand-in for GPU work.

Options (``task.simulated``):
    seconds_per_step   wall time of one optimizer step (default 0)
    optimum_lr         learning rate with the best final value (default 3e-4)
    noise              std-dev of per-evaluation noise (default 0)
    nan_lr_above       learning rates above this diverge (NaN) half-way through
    oom_batch_above    per-device batches above this run out of memory at the first step
    start_value        value at step 0 (default 3.0)
"""

from __future__ import annotations

import json
import math
import random
import time
import zlib
from pathlib import Path
from typing import Any

from hpsearch.trainers import _checkpoints, _failpoints
from hpsearch.trainers._base import (
    CheckpointWriteError,
    ConfigError,
    NonFiniteLossError,
    OutOfMemoryError,
    Reporter,
    TrialConfig,
    TrialResult,
    TrialRunner,
)

_STATE_FILE = "simulated_state.json"


def simulated_value(config: TrialConfig, step: int, total: int) -> float:
    """Objective at ``step``: exponential decay towards a floor set by the learning rate."""
    sim = config.simulated
    lr = float(config.hparams.training_args.get("learning_rate", 1e-4))
    optimum = float(sim.get("optimum_lr", 3e-4))
    start = float(sim.get("start_value", 3.0))
    floor = 0.5 + 0.4 * (math.log10(lr) - math.log10(optimum)) ** 2
    tau = max(total / 4.0, 1.0)
    value = floor + (start - floor) * math.exp(-step / tau)
    noise = float(sim.get("noise", 0.0))
    if noise:
        rng = random.Random(zlib.crc32(f"{lr!r}:{step}:{config.hparams.seed}".encode()))
        value += rng.gauss(0.0, noise)
    return value


class SimulatedTrialRunner(TrialRunner):
    def validate(self, config: TrialConfig) -> list[str]:
        if config.schedule.max_steps is None:
            return ["a simulated task needs task.max_steps"]
        return []

    def run(self, config: TrialConfig, reporter: Reporter) -> TrialResult:
        problems = self.validate(config)
        if problems:
            raise ConfigError(problems[0])
        sim, sched = config.simulated, config.schedule
        total = int(sched.max_steps or 0)
        per_step = float(sim.get("seconds_per_step", 0.0))
        lr = float(config.hparams.training_args.get("learning_rate", 1e-4))
        context = {"trial": config.run_name.rsplit("-", 1)[-1]}
        start_step, history = 0, []
        if config.paths.resume_from:
            state = json.loads((Path(config.paths.resume_from) / _STATE_FILE).read_text())
            start_step, history = int(state["step"]), [tuple(h) for h in state["history"]]
        batch = config.hparams.per_device_train_batch_size
        reporter.record(
            {"trainable_params": 1000, "device": "simulated", "resumed_from_step": start_step}
        )
        best: tuple[int, float] | None = None
        for step, value in history:
            if best is None or self._better(value, best[1], sched.greater_is_better):
                best = (step, value)
        bad_evals = 0
        pruned_at, paused = None, False
        started = time.perf_counter()
        for step in range(start_step + 1, total + 1):
            if per_step:
                time.sleep(per_step)
            if "oom_batch_above" in sim and batch > float(sim["oom_batch_above"]):
                raise OutOfMemoryError(
                    f"out of memory at step {step} with per-device batch {batch} (simulated)",
                    step=step,
                )
            action = _failpoints.triggered("train.step", step=step, **context)
            if action == "kill":
                _failpoints.kill_self()
            if action == "oom":
                raise OutOfMemoryError(f"out of memory at step {step} (failpoint)", step=step)
            if "nan_lr_above" in sim and lr > float(sim["nan_lr_above"]) and step > total // 2:
                raise NonFiniteLossError(f"training loss became nan at step {step}", step=step)
            if step % sched.eval_steps and step != total:
                continue
            value = simulated_value(config, step, total)
            metric_action = _failpoints.triggered("eval.metric", step=step, **context)
            if metric_action in ("nan", "inf"):
                value = float(str(metric_action))
            if not math.isfinite(value):  # as the Hugging Face runner's objective callback
                raise NonFiniteLossError(f"{sched.metric} became {value} at step {step}", step=step)
            history.append((step, value))
            reporter.report(step, value)
            if best is None or self._better(value, best[1], sched.greater_is_better, sched):
                best, bad_evals = (step, value), 0
            else:
                bad_evals += 1
            # A trial that trained its full budget is complete with its value: the pruner is
            # not asked at the last evaluation (a median pruner would discard the result).
            if step < total and reporter.should_prune():
                pruned_at = step
                paused = bool(getattr(reporter, "pausing", lambda: False)())
                if paused:  # a pause keeps this step's checkpoint for a successor
                    self._checkpoint(config, step, history, best, context)
                break
            if (step // sched.eval_steps) % sched.checkpoint_every == 0 or step == total:
                self._checkpoint(config, step, history, best, context)
            if sched.early_stopping_patience and bad_evals >= sched.early_stopping_patience:
                break
        assert best is not None
        last = history[-1][0]
        _checkpoints.finalize(
            Path(config.paths.checkpoints_dir), greater_is_better=sched.greater_is_better
        )
        result = TrialResult(
            status="pruned" if pruned_at is not None else "complete",
            value=best[1],
            best_step=best[0],
            last_step=last,
            metrics={sched.metric: best[1]},
        )
        if pruned_at is not None:
            result.reason = (
                f"paused at step {pruned_at}"
                if paused
                else f"pruned by the search at step {pruned_at}"
            )
        elif last < total:
            result.reason = f"early stopping at step {last}"
        if result.status == "complete":
            final = Path(config.paths.final_dir)
            try:
                _checkpoints.write_dir_atomically(
                    final,
                    lambda tmp: (tmp / "simulated_model.json").write_text(
                        json.dumps({"best": best})
                    ),
                )
            except OSError as exc:
                raise CheckpointWriteError(_checkpoints.describe_write_error(exc, final)) from exc
            result.final_dir = str(final)
        elapsed = time.perf_counter() - started
        steps_run = last - start_step
        result.stats = {
            "train_time_s": round(elapsed, 3),
            "eval_time_s": 0.0,
            "load_time_s": 0.0,
            "samples_per_s": round(steps_run * batch / max(elapsed, 1e-9), 3),
            "device": "simulated",
        }
        if paused:
            folder = Path(config.paths.checkpoints_dir) / f"checkpoint-{pruned_at}"
            result.stats["paused_at_step"] = pruned_at
            result.stats["paused_checkpoint"] = str(folder)
        return result

    @staticmethod
    def _better(value: float, best: float, greater: bool, sched: Any = None) -> bool:
        threshold = getattr(sched, "early_stopping_threshold", 0.0) if sched else 0.0
        return value > best + threshold if greater else value < best - threshold

    @staticmethod
    def _checkpoint(
        config: TrialConfig,
        step: int,
        history: list[Any],
        best: tuple[int, float] | None,
        context: dict[str, Any],
    ) -> None:
        folder = Path(config.paths.checkpoints_dir) / f"checkpoint-{step}"
        action = _failpoints.triggered("checkpoint.write", step=step, **context)
        try:
            # Like the HF runner's: any failure to write or commit it (a full disk included)
            # is a checkpoint-write failure, described in one line.
            folder.mkdir(parents=True, exist_ok=True)
            (folder / _STATE_FILE).write_text(json.dumps({"step": step, "history": history}))
            if action in ("kill", "tear"):
                _failpoints.kill_self()
            if action == "enospc":
                _failpoints.raise_enospc()
            _checkpoints.commit(folder, step=step, metric=history[-1][1])
        except OSError as exc:
            raise CheckpointWriteError(
                _checkpoints.describe_write_error(exc, folder), step=step
            ) from exc
        keep = []
        if best is not None:
            keep.append(Path(config.paths.checkpoints_dir) / f"checkpoint-{best[0]}")
        _checkpoints.retain(Path(config.paths.checkpoints_dir), keep=keep)
