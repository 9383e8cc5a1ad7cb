"""A pause (the promotion pruner's stop) commits a checkpoint at that step; a successor resumes it.

Real Hugging Face Trainer runs on the tiny model, the real channel for the example script; no
Optuna, no Ray. The successor's run is what the driver dispatches for a promotion: the same
configuration with ``paths.resume_from`` set to the paused trial's committed checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from hpsearch.trainers import (
    CHECKPOINT_MARKER,
    CustomTraining,
    DataConfig,
    HyperParams,
    ModelConfig,
    NullReporter,
    RunPaths,
    ScheduleConfig,
    TrialConfig,
    is_complete,
    list_checkpoints,
    runner_for,
)
from tests.trainers.helpers import PauseAt, causal_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _sparse_checkpoints(model: str, dataset: str, tmp: Path, name: str) -> TrialConfig:
    """Evaluations every 3 steps, scheduled checkpoints only at step 12 (checkpoint_every 4),
    a linear schedule: a checkpoint at step 6 exists only because of the pause."""
    config = causal_config(model, dataset, tmp)
    return replace(
        config,
        schedule=replace(config.schedule, checkpoint_every=4),
        hparams=replace(
            config.hparams,
            training_args={"learning_rate": 1e-3, "lr_scheduler_type": "linear"},
        ),
        paths=RunPaths(str(tmp / name / "ckpt"), str(tmp / name / "final")),
    )


def _optimizer_steps(checkpoint: Path) -> int:
    state = torch.load(checkpoint / "optimizer.pt", weights_only=True)["state"]
    return int(next(iter(state.values()))["step"])


def test_a_pause_commits_this_steps_checkpoint_and_a_successor_continues_from_it(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    runner = runner_for("causal_lm")
    paused = runner.run(
        _sparse_checkpoints(tiny_qwen3, text_jsonl, tmp_path, "t0"), PauseAt(6, pauses=True)
    )
    assert paused.status == "pruned" and paused.last_step == 6 and paused.final_dir is None
    assert paused.reason == "paused at step 6"
    checkpoint = tmp_path / "t0" / "ckpt" / "checkpoint-6"
    assert [s for s, _ in list_checkpoints(tmp_path / "t0" / "ckpt")] == [6]
    assert is_complete(checkpoint)  # committed: the marker matches the files on disk
    manifest = json.loads((checkpoint / CHECKPOINT_MARKER).read_text())
    assert manifest["step"] == 6 and manifest["metric"] is not None
    assert paused.stats["paused_at_step"] == 6
    assert paused.stats["paused_checkpoint"] == str(checkpoint)
    assert _optimizer_steps(checkpoint) == 6

    successor = replace(
        _sparse_checkpoints(tiny_qwen3, text_jsonl, tmp_path, "t1"),
        paths=RunPaths(
            str(tmp_path / "t1" / "ckpt"),
            str(tmp_path / "t1" / "final"),
            resume_from=str(checkpoint),
        ),
    )
    reporter = PauseAt(None)
    result = runner.run(successor, reporter)
    assert sorted(reporter.values) == [9, 12]  # its first report is the evaluation after 6
    assert result.status == "complete" and result.last_step == 12
    assert result.final_dir is not None and is_complete(Path(result.final_dir))
    final = tmp_path / "t1" / "ckpt" / "checkpoint-12"
    assert is_complete(final)
    # HF's resume restored the optimizer (Adam's step count goes on from 6, not from 0) and
    # the scheduler (the linear decay reached its end at step 12)
    assert _optimizer_steps(final) == 12
    scheduler = torch.load(final / "scheduler.pt", weights_only=True)
    assert scheduler["last_epoch"] == 12 and set(scheduler["_last_lr"]) == {0.0}
    state = json.loads((final / "trainer_state.json").read_text())
    assert state["global_step"] == 12
    evals = [e["step"] for e in state["log_history"] if "eval_loss" in e]
    assert evals == [3, 6, 9, 12]  # one curve: the paused trial's evaluations, then its own
    assert checkpoint.is_dir()  # the successor leaves its predecessor's checkpoint alone


def test_a_prune_that_is_not_a_pause_saves_no_checkpoint(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = _sparse_checkpoints(tiny_qwen3, text_jsonl, tmp_path, "t0")
    result = runner_for("causal_lm").run(config, PauseAt(6, pauses=False))
    assert result.status == "pruned" and result.last_step == 6
    assert result.reason == "pruned by the search at step 6"
    assert list_checkpoints(tmp_path / "t0" / "ckpt") == []
    assert "paused_at_step" not in result.stats


def _script_config(tmp: Path, name: str, resume_from: str | None = None) -> TrialConfig:
    script = CustomTraining(
        script=str(EXAMPLES / "train_tiny_classifier.py"),
        script_args=("--max-steps", "12", "--eval-steps", "4", "--train-size", "256"),
        params={"learning_rate": 1e-3},
    )
    return TrialConfig(
        run_name="study-3",
        model=ModelConfig(None, task_type="custom"),
        data=DataConfig(None),
        schedule=ScheduleConfig(metric="eval_loss"),
        hparams=HyperParams(),
        paths=RunPaths(
            checkpoints_dir=str(tmp / name / "checkpoints"),
            final_dir=str(tmp / name / "final"),
            resume_from=resume_from,
        ),
        custom=script,
    )


@pytest.mark.slow
def test_the_example_script_commits_its_checkpoint_on_a_pause_and_resumes_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    runner = runner_for("custom")
    reporter = PauseAt(4, pauses=True)
    paused = runner.run(_script_config(tmp_path, "t0"), reporter)
    assert paused.status == "pruned" and paused.last_step == 4
    assert paused.reason == "paused at step 4"
    assert sorted(reporter.values) == [4]
    checkpoint = tmp_path / "t0" / "checkpoints" / "checkpoint-4"
    assert is_complete(checkpoint)
    assert paused.stats == {"paused_at_step": 4, "paused_checkpoint": str(checkpoint)}
    assert reporter.attrs["last_checkpoint_step"] == 4

    successor: Any = NullReporter()
    result = runner.run(_script_config(tmp_path, "t1", resume_from=str(checkpoint)), successor)
    assert result.status == "complete" and result.last_step == 12
    assert sorted(successor.values) == [8, 12]  # continues after step 4, not from 0
    assert is_complete(tmp_path / "t1" / "checkpoints" / "checkpoint-12")


def test_the_simulated_trainer_pauses_and_resumes_like_the_hf_one(tmp_path: Path) -> None:
    def config(name: str, resume_from: str | None = None) -> TrialConfig:
        return replace(
            causal_config("unused", "unused", tmp_path),
            model=ModelConfig("simulated", "simulated", "full", {}),
            schedule=ScheduleConfig(
                max_steps=20, eval_steps=5, metric="eval_loss", checkpoint_every=4
            ),
            paths=RunPaths(str(tmp_path / name / "c"), str(tmp_path / name / "f"), resume_from),
        )

    runner = runner_for("simulated")
    pruned = runner.run(config("t0"), PauseAt(10, pauses=False))
    assert pruned.reason == "pruned by the search at step 10"
    assert list_checkpoints(tmp_path / "t0" / "c") == []
    paused = runner.run(config("t1"), PauseAt(10))
    assert paused.status == "pruned" and paused.reason == "paused at step 10"
    checkpoint = tmp_path / "t1" / "c" / "checkpoint-10"
    assert is_complete(checkpoint) and paused.stats["paused_checkpoint"] == str(checkpoint)
    reporter = PauseAt(None)
    result = runner.run(config("t2", resume_from=str(checkpoint)), reporter)
    assert result.status == "complete" and sorted(reporter.values) == [15, 20]
