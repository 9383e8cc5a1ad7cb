"""Runs the user's own training (task type ``custom``) as a child process of the trial's worker.

The child is the user's script (``python train.py ARGS``) or hpsearch's entry-point launcher
(``python -m hpsearch.trainers._script_entry module:function``). It talks to this runner over the
channel of :mod:`hpsearch.trainers._script_channel`: every evaluation is reported here, passed on
to the :class:`Reporter` (so the search layer's pruner decides) and answered with continue,
prune or stop. A crash of the child fails only its trial; the child dies with its worker
(``PR_SET_PDEATHSIG``), so a killed worker leaves no training behind and its retry resumes from
the last committed checkpoint.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.trainers import _checkpoints
from hpsearch.trainers._base import (
    ConfigError,
    CustomTraining,
    NonFiniteLossError,
    OutOfMemoryError,
    Reporter,
    TrialConfig,
    TrialError,
    TrialResult,
    TrialRunner,
)
from hpsearch.trainers._script_channel import ENV, Action, Report, TrialSpec, WorkerSide

_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1


class ScriptError(TrialError):
    """The user's script crashed, never evaluated or never reported the objective metric."""

    kind = "script"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # elsewhere the child may outlive a killed worker; its trial is still reaped and retried
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class _Progress:
    """What the child reported: the objective's history and how the run was ended."""

    metric: str
    greater_is_better: bool
    patience: int | None
    threshold: float
    history: list[tuple[int, float]] = field(default_factory=list)
    evaluations: int = 0
    last_metrics: dict[str, float] = field(default_factory=dict)
    pruned_at: int | None = None
    paused: bool = False  # the stop at pruned_at is a pause: the script commits a checkpoint
    checkpoints: dict[int, str] = field(default_factory=dict)  # committed, by step
    stopped: str | None = None
    missing: str | None = None
    non_finite: str | None = None
    since_best: int = 0

    def improves(self, value: float) -> bool:
        scored = [v for _, v in self.history]
        if not scored:
            return True
        best = max(scored) if self.greater_is_better else min(scored)
        gain = value - best if self.greater_is_better else best - value
        return gain > self.threshold

    def best(self) -> tuple[int, float]:
        pick = max if self.greater_is_better else min
        return pick(self.history, key=lambda sv: sv[1])


class ScriptTrialRunner(TrialRunner):
    """A trial = one run of the user's script or entry point, in a child process."""

    def validate(self, config: TrialConfig) -> list[str]:
        custom = config.custom
        if custom is None:
            return ["a custom task needs a script or a trainer entry point"]
        if custom.script is not None:
            if not Path(custom.script).is_file():
                return [f"task.script: no such file: {custom.script}"]
            return []
        module = (custom.entry_point or "").partition(":")[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return [
                f"task.trainer: module {module!r} of {custom.entry_point!r} cannot be imported "
                "(install it or add its folder to PYTHONPATH)"
            ]
        return []

    def run(self, config: TrialConfig, reporter: Reporter) -> TrialResult:
        custom = config.custom
        problems = self.validate(config)
        if custom is None or problems:
            raise ConfigError("; ".join(problems))
        checkpoints = Path(config.paths.checkpoints_dir)
        channel = checkpoints.parent / "script"
        checkpoints.mkdir(parents=True, exist_ok=True)
        channel.mkdir(parents=True, exist_ok=True)
        for stale in channel.iterdir():  # a rerun in the same folder starts a fresh channel
            stale.unlink()
        spec = TrialSpec(
            trial=int(config.run_name.rsplit("-", 1)[-1]),
            params=dict(custom.params),
            output_dir=str(checkpoints),
            channel=str(channel),
            metric=config.schedule.metric,
            greater_is_better=config.schedule.greater_is_better,
            checkpoint_every=config.schedule.checkpoint_every,
            resume_from_checkpoint=config.paths.resume_from,
        )
        spec_path = channel / "trial.json"
        spec.write(spec_path)
        progress = _Progress(
            config.schedule.metric,
            config.schedule.greater_is_better,
            config.schedule.early_stopping_patience,
            config.schedule.early_stopping_threshold,
            history=_earlier_history(config.paths.resume_from, config.schedule.metric),
        )
        output = channel / "output.log"
        code = self._run_child(config, custom, spec_path, output, reporter, progress)
        _checkpoints.finalize(checkpoints, greater_is_better=config.schedule.greater_is_better)
        return _result(progress, code, output, custom)

    def _run_child(
        self,
        config: TrialConfig,
        custom: CustomTraining,
        spec_path: Path,
        output: Path,
        reporter: Reporter,
        progress: _Progress,
    ) -> int:
        if custom.script is not None:
            command = [sys.executable, custom.script, *custom.script_args]
        else:
            command = [
                sys.executable,
                "-m",
                "hpsearch.trainers._script_entry",
                str(custom.entry_point),
            ]
        threads = str(max(1, int(config.cpus)))
        env = {
            **os.environ,
            ENV: str(spec_path),
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", threads),
        }
        side = WorkerSide(spec_path.parent)
        with open(output, "wb") as log:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            try:
                while True:
                    code = child.poll()
                    for report in side.poll():
                        _handle(report, side, reporter, progress)
                    if code is not None:
                        return code
                    time.sleep(_POLL_S)
            finally:
                if child.poll() is None:  # the worker is going (an error here): so is the child
                    child.kill()
                    child.wait()


def _handle(report: Report, side: WorkerSide, reporter: Reporter, progress: _Progress) -> None:
    if report.kind != "evaluate":
        if report.kind == "checkpoint":
            progress.checkpoints[int(report.payload["step"])] = str(report.payload.get("path"))
            reporter.record({"last_checkpoint_step": report.payload.get("step")})
        return
    step = int(report.payload["step"])
    if progress.pruned_at is not None or progress.stopped is not None:  # e.g. a final evaluate()
        side.decide(report.seq, _stop_action(progress))
        return
    metrics = {str(k): float(v) for k, v in dict(report.payload.get("metrics") or {}).items()}
    progress.evaluations += 1
    progress.last_metrics = metrics
    if progress.metric not in metrics:
        shown = ", ".join(sorted(metrics)) or "nothing"
        progress.missing = (
            f"the script's evaluation at step {step} has no {progress.metric!r} (it reported "
            f"{shown}); return it from compute_metrics or change objective.metric"
        )
        side.decide(report.seq, "stop", progress.missing)
        return
    value = metrics[progress.metric]
    if not math.isfinite(value):
        progress.non_finite = f"{progress.metric} became {value} at step {step}"
        side.decide(report.seq, "stop", progress.non_finite)
        return
    improved = progress.improves(value)
    progress.since_best = 0 if improved else progress.since_best + 1
    progress.history.append((step, value))
    reporter.report(step, value)
    reporter.record({"last_step": step})
    if reporter.should_prune():
        progress.pruned_at = step
        progress.paused = bool(getattr(reporter, "pausing", lambda: False)())
        side.decide(report.seq, _stop_action(progress), _prune_reason(progress))
    elif progress.patience and progress.since_best >= progress.patience:
        progress.stopped = (
            f"early stopping at step {step}: no improvement in {progress.patience} evaluations"
        )
        side.decide(report.seq, "stop", progress.stopped)
    else:
        side.decide(report.seq, "continue")


def _stop_action(progress: _Progress) -> Action:
    if progress.pruned_at is None:
        return "stop"
    return "pause" if progress.paused else "prune"


def _prune_reason(progress: _Progress) -> str:
    if progress.paused:
        return f"paused at step {progress.pruned_at}"
    return f"pruned by the search at step {progress.pruned_at}"


def _pause_stats(progress: _Progress) -> dict[str, Any]:
    """A paused trial's step and its committed pause checkpoint (None if the script did not
    commit one at that step: its successor then resumes from an earlier one)."""
    if not progress.paused or progress.pruned_at is None:
        return {}
    path = progress.checkpoints.get(progress.pruned_at)
    committed = path is not None and _checkpoints.is_complete(Path(path))
    return {"paused_at_step": progress.pruned_at, "paused_checkpoint": path if committed else None}


def _earlier_history(resume_from: str | None, metric: str) -> list[tuple[int, float]]:
    """The objective at the evaluations before the checkpoint a retry resumes from."""
    if not resume_from:
        return []
    try:
        state = json.loads((Path(resume_from) / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [
        (int(e["step"]), float(e[metric]))
        for e in state.get("log_history", [])
        if metric in e and "step" in e and math.isfinite(float(e[metric]))
    ]


def _last_line(output: Path) -> str:
    try:
        lines = output.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return ""


def _result(progress: _Progress, code: int, output: Path, custom: CustomTraining) -> TrialResult:
    what = custom.script or custom.entry_point
    if progress.missing:
        raise ScriptError(progress.missing)
    if progress.non_finite:
        raise NonFiniteLossError(progress.non_finite)
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        last = _last_line(output)
        if "out of memory" in last.lower():  # the search retries it with half the batch
            raise OutOfMemoryError(f"{what} ran out of accelerator memory: {last}")
        raise ScriptError(
            f"{what} {how}" + (f": {last}" if last else "") + f" (its output: {output})"
        )
    if not progress.history:
        if progress.evaluations == 0:
            raise ScriptError(
                f"{what} never evaluated: no evaluation reached hpsearch's TrialCallback (add "
                "trainer.add_callback(hpsearch.trainers.TrialCallback()), give the Trainer an "
                "eval_dataset and set eval_strategy='steps')"
            )
        raise ScriptError(f"{what} never reported the objective metric {progress.metric!r}")
    best_step, best_value = progress.best()
    last_step = progress.history[-1][0]
    metrics = {k: v for k, v in progress.last_metrics.items() if k.startswith("eval_")}
    if progress.pruned_at is not None:
        return TrialResult(
            "pruned",
            None,
            best_step,
            last_step,
            reason=_prune_reason(progress),
            metrics=metrics,
            stats=_pause_stats(progress),
        )
    return TrialResult(
        "complete", best_value, best_step, last_step, reason=progress.stopped, metrics=metrics
    )
