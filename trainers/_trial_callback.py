"""``TrialCallback``: hpsearch's reporting, pruning and checkpoint commits for any HF Trainer.

Add it to the Trainer of an existing script (``trainer.add_callback(TrialCallback())``). Under
``hpsearch run --script`` it reports every evaluation to the trial's worker, stops training when
the study's pruner (or early stopping) says so, saves a checkpoint at evaluations and commits it
atomically so that a retry resumes from it. When the pruner *pauses* the trial it saves and
commits a checkpoint at that very step before it stops, so a promoted successor continues from
it. Outside hpsearch it does nothing.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from hpsearch.trainers import _checkpoints, _failpoints
from hpsearch.trainers._script_channel import STOPS, ScriptSide, TrialSpec, current_spec


class TrialCallback(TrainerCallback):
    """Connects a ``transformers.Trainer`` to the hpsearch trial it runs for (if any)."""

    def __init__(self) -> None:
        self.spec: TrialSpec | None = current_spec()
        self._side = ScriptSide(self.spec) if self.spec is not None else None
        self.evaluations = 0
        self.last_value: float | None = None
        self.decision: str | None = None

    @property
    def active(self) -> bool:
        """Whether this process runs as an hpsearch trial."""
        return self.spec is not None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.spec is None:
            return
        args.output_dir = self.spec.output_dir  # checkpoints go where hpsearch resumes from
        unused = [
            f"{name}={value!r} (the Trainer has {getattr(args, name)!r})"
            for name, value in self.spec.params.items()
            if hasattr(args, name) and _differs(getattr(args, name), value)
        ]
        if unused:
            print(
                "hpsearch: warning: sampled values the Trainer does not use: "
                + ", ".join(unused)
                + "; build TrainingArguments from hpsearch.trainers.trial_params()",
                file=sys.stderr,
                flush=True,
            )

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.spec is not None and _failpoints.active():
            action = _failpoints.triggered(
                "train.step", step=state.global_step, trial=self.spec.trial
            )
            if action == "kill":  # a preemption: the worker goes, and this script with it
                os.kill(os.getppid(), signal.SIGKILL)
                _failpoints.kill_self()

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any
    ) -> None:
        if self._side is None or self.spec is None:
            return
        metrics = dict(metrics or {})
        if "eval_loss" in metrics and "eval_perplexity" not in metrics:
            loss = float(metrics["eval_loss"])
            metrics["eval_perplexity"] = math.exp(min(loss, 700.0)) if math.isfinite(loss) else loss
        value = metrics.get(self.spec.metric)
        self.last_value = float(value) if isinstance(value, (int, float)) else None
        action, _reason = self._side.evaluation(int(state.global_step), metrics)
        self.decision = action
        self.evaluations += 1
        if action in STOPS:
            control.should_training_stop = True
            control.should_save = action == "pause"  # a pause keeps this step's checkpoint
        elif self.evaluations % max(1, self.spec.checkpoint_every) == 0:
            control.should_save = True

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self._side is None or self.spec is None:
            return
        root = Path(self.spec.output_dir)
        folder = root / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        _checkpoints.commit(folder, step=int(state.global_step), metric=self.last_value)
        keep = [Path(state.best_model_checkpoint)] if state.best_model_checkpoint else []
        _checkpoints.retain(root, keep=keep)
        self._side.send("checkpoint", step=int(state.global_step), path=str(folder))


def _differs(actual: Any, sampled: Any) -> bool:
    if isinstance(actual, float) or isinstance(sampled, float):
        try:
            return not math.isclose(float(actual), float(sampled), rel_tol=1e-9)
        except (TypeError, ValueError):
            return True
    return str(getattr(actual, "value", actual)) != str(sampled)
