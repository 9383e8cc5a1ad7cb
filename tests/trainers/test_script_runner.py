"""Bring your own training, trainer side: trial_params, the script runner and its failures.

Real child processes on the real channel; no Ray, no database. The scripts that fail here need
no torch, so they are fast; the example script runs once on its own, without hpsearch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpsearch.trainers import (
    CHECKPOINT_MARKER,
    TRIAL_ENV,
    CustomTraining,
    DataConfig,
    HyperParams,
    ModelConfig,
    NullReporter,
    OutOfMemoryError,
    RunPaths,
    ScheduleConfig,
    ScriptError,
    TrialConfig,
    TrialSpec,
    runner_for,
    trial_params,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _config(tmp_path: Path, custom: CustomTraining, metric: str = "eval_loss") -> TrialConfig:
    return TrialConfig(
        run_name="study-3",
        model=ModelConfig(None, task_type="custom"),
        data=DataConfig(None),
        schedule=ScheduleConfig(metric=metric),
        hparams=HyperParams(),
        paths=RunPaths(
            checkpoints_dir=str(tmp_path / "trial-00003" / "checkpoints"),
            final_dir=str(tmp_path / "trial-00003" / "final"),
        ),
        custom=custom,
    )


def _script(tmp_path: Path, body: str) -> CustomTraining:
    path = tmp_path / "train.py"
    path.write_text(body)
    return CustomTraining(script=str(path), params={"learning_rate": 0.5})


def test_trial_params_outside_hpsearch_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRIAL_ENV, raising=False)
    params = trial_params({"learning_rate": 1e-3, "output_dir": "out"})
    assert params == {"learning_rate": 1e-3, "output_dir": "out"}
    assert params.resume_from_checkpoint is None and params.output_dir is None
    assert trial_params() == {}
    with pytest.raises(TypeError, match="mapping of default values"):
        trial_params(["learning_rate"])  # type: ignore[arg-type]


def test_trial_params_under_hpsearch_overlay_the_sampled_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TrialSpec(
        trial=4,
        params={"learning_rate": 0.01, "warmup_steps": 3},
        output_dir=str(tmp_path / "ck"),
        channel=str(tmp_path),
        resume_from_checkpoint=str(tmp_path / "ck" / "checkpoint-8"),
    )
    spec.write(tmp_path / "trial.json")
    monkeypatch.setenv(TRIAL_ENV, str(tmp_path / "trial.json"))
    params = trial_params({"learning_rate": 1e-3, "weight_decay": 0.1, "output_dir": "out"})
    assert params == {
        "learning_rate": 0.01,
        "weight_decay": 0.1,
        "warmup_steps": 3,
        "output_dir": str(tmp_path / "ck"),
    }
    assert params.resume_from_checkpoint == str(tmp_path / "ck" / "checkpoint-8")
    assert params.trial == 4


def test_a_script_that_never_evaluates_fails_with_one_line_naming_it(tmp_path: Path) -> None:
    config = _config(tmp_path, _script(tmp_path, "print('training, but never evaluating')\n"))
    with pytest.raises(ScriptError, match="never evaluated") as caught:
        runner_for("custom").run(config, NullReporter())
    message = str(caught.value)
    assert "\n" not in message and "TrialCallback" in message and "eval_strategy" in message


def test_a_script_without_the_objective_metric_fails_naming_what_it_reported(
    tmp_path: Path,
) -> None:
    body = (
        "from hpsearch.trainers._script_channel import ScriptSide, current_spec\n"
        "spec = current_spec()\n"
        "assert spec is not None and spec.params == {'learning_rate': 0.5}, spec\n"
        "action, _ = ScriptSide(spec).evaluation(5, {'eval_loss': 0.7, 'eval_runtime': 1.0})\n"
        "print('decision', action)\n"
    )
    config = _config(tmp_path, _script(tmp_path, body), metric="eval_f1")
    with pytest.raises(ScriptError) as caught:
        runner_for("custom").run(config, NullReporter())
    message = str(caught.value)
    assert "\n" not in message
    assert "step 5 has no 'eval_f1'" in message and "eval_loss, eval_runtime" in message
    assert "compute_metrics" in message
    output = (tmp_path / "trial-00003" / "script" / "output.log").read_text()
    assert "decision stop" in output  # the script was told to stop at once


def test_a_crashing_script_fails_with_its_last_line(tmp_path: Path) -> None:
    config = _config(tmp_path, _script(tmp_path, "raise ValueError('no such column: text')\n"))
    with pytest.raises(ScriptError, match="exited with code 1") as caught:
        runner_for("custom").run(config, NullReporter())
    assert "ValueError: no such column: text" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_script_or_entry_point_is_found_before_training(tmp_path: Path) -> None:
    runner = runner_for("custom")
    missing = CustomTraining(script=str(tmp_path / "nope.py"))
    assert runner.validate(_config(tmp_path, missing)) == [
        f"task.script: no such file: {tmp_path / 'nope.py'}"
    ]
    entry = CustomTraining(entry_point="no_such_module_xyz:make_trainer")
    (problem,) = runner.validate(_config(tmp_path, entry))
    assert "'no_such_module_xyz'" in problem and "PYTHONPATH" in problem


@pytest.mark.slow
def test_the_example_script_trains_normally_without_hpsearch(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TRIAL_ENV}
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "train_tiny_classifier.py"),
            "--output-dir",
            str(tmp_path / "out"),
            "--max-steps",
            "12",
            "--eval-steps",
            "4",
            "--train-size",
            "256",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    final = json.loads(result.stdout.strip().splitlines()[-1])["final"]
    assert final["eval_loss"] < 0.69  # it learned (chance is ln 2)
    assert "eval_accuracy" in final and final["epoch"] > 0
    saved = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert saved == ["checkpoint-12", "checkpoint-4", "checkpoint-8"]  # HF's own saving
    assert not list((tmp_path / "out").rglob(CHECKPOINT_MARKER))  # the callback did nothing


_EVALUATIONS = (
    "from hpsearch.trainers._script_channel import ScriptSide, current_spec\n"
    "side = ScriptSide(current_spec())\n"
    "for step, loss in [(2, 1.0), (4, 0.9), (6, 0.9), (8, 0.9), (10, 0.9)]:\n"
    "    action, reason = side.evaluation(step, {'eval_loss': loss})\n"
    "    print('decision', step, action, reason, flush=True)\n"
    "    if action != 'continue':\n"
    "        break\n"
)


class _PruneAt(NullReporter):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def should_prune(self) -> bool:
        return max(self.values) >= self.step


def test_the_searchs_prune_decision_reaches_the_script(tmp_path: Path) -> None:
    reporter = _PruneAt(4)
    result = runner_for("custom").run(_config(tmp_path, _script(tmp_path, _EVALUATIONS)), reporter)
    assert result.status == "pruned" and result.last_step == 4 and result.value is None
    assert result.reason == "pruned by the search at step 4"
    assert reporter.values == {2: 1.0, 4: 0.9}
    output = (tmp_path / "trial-00003" / "script" / "output.log").read_text()
    assert "decision 4 prune" in output and "decision 6" not in output


def test_a_plateau_stops_the_script_early(tmp_path: Path) -> None:
    from dataclasses import replace

    config = _config(tmp_path, _script(tmp_path, _EVALUATIONS))
    config = replace(config, schedule=replace(config.schedule, early_stopping_patience=2))
    result = runner_for("custom").run(config, NullReporter())
    assert result.status == "complete" and result.value == 0.9 and result.best_step == 4
    assert result.reason == "early stopping at step 8: no improvement in 2 evaluations"


def test_a_script_out_of_memory_is_retryable(tmp_path: Path) -> None:
    body = (
        "raise SystemExit('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB')\n"
    )
    config = _config(tmp_path, _script(tmp_path, body))
    with pytest.raises(OutOfMemoryError, match="ran out of accelerator memory"):
        runner_for("custom").run(config, NullReporter())
