"""Real Hugging Face Trainer runs on tiny models built from a config."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hpsearch.trainers import (
    DatasetError,
    ModelNotFoundError,
    NonFiniteLossError,
    OutOfMemoryError,
    ScheduleConfig,
    is_complete,
    list_checkpoints,
    runner_for,
)
from tests.trainers.helpers import PruneAt, causal_config


def test_causal_lm_reports_every_evaluation_and_saves_the_adapter(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    reporter = PruneAt()
    result = runner_for("causal_lm").run(causal_config(tiny_qwen3, text_jsonl, tmp_path), reporter)
    assert result.status == "complete"
    assert sorted(reporter.values) == [3, 6, 9, 12]
    assert all(math.isfinite(v) for v in reporter.values.values())
    assert reporter.values[12] < reporter.values[3]  # it learns
    assert result.value == min(reporter.values.values())
    assert reporter.attrs["trainable_params"] < reporter.attrs["total_params"]
    assert result.stats["tokens_per_s"] > 0 and result.stats["samples_per_s"] > 0
    final = Path(result.final_dir or "")
    assert (final / "adapter_model.safetensors").is_file() and is_complete(final)
    assert not (final / "training_args.bin").exists()  # a pickle: the settings are JSON
    record = json.loads((final / "hpsearch_trial.json").read_text())
    assert record["lora_config"]["default"]["r"] == 4
    assert record["training_arguments"]["learning_rate"] == 1e-3
    # bounded disk use: the newest and the best checkpoint, nothing else
    steps = [s for s, _ in list_checkpoints(tmp_path / "ckpt")]
    assert 1 <= len(steps) <= 2 and 12 in steps


def test_pruning_stops_within_one_evaluation_interval(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    reporter = PruneAt(step=6)
    started = time.monotonic()
    result = runner_for("causal_lm").run(causal_config(tiny_qwen3, text_jsonl, tmp_path), reporter)
    assert result.status == "pruned"
    assert max(reporter.values) == 6 and result.last_step == 6
    assert result.final_dir is None and "pruned" in (result.reason or "")
    assert time.monotonic() - started < 120


def test_a_full_budget_trial_is_complete_even_when_the_pruner_says_prune(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    """The pruner is not asked at the last evaluation (step 12): the trial keeps its result."""
    reporter = PruneAt(step=12)
    result = runner_for("causal_lm").run(causal_config(tiny_qwen3, text_jsonl, tmp_path), reporter)
    assert result.status == "complete" and result.last_step == 12
    assert sorted(reporter.values) == [3, 6, 9, 12] and result.final_dir is not None


def test_early_stopping_fires_on_a_plateau(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    config = replace(
        config,
        schedule=replace(config.schedule, max_steps=30, early_stopping_patience=2),
        hparams=replace(config.hparams, training_args={"learning_rate": 0.0}),
    )
    reporter = PruneAt()
    result = runner_for("causal_lm").run(config, reporter)
    assert result.status == "complete"
    assert sorted(reporter.values) == [3, 6, 9]  # best at 3, then 2 evaluations without gain
    assert "early stopping" in (result.reason or "")


def test_nan_loss_ends_the_trial(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPSEARCH_FAILPOINTS", "train.loss=nan@step=4")
    with pytest.raises(NonFiniteLossError, match="nan") as info:
        runner_for("causal_lm").run(causal_config(tiny_qwen3, text_jsonl, tmp_path), PruneAt())
    assert info.value.step is not None and info.value.step <= 6


def test_non_finite_eval_value_ends_the_trial(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPSEARCH_FAILPOINTS", "eval.metric=inf@step=6")
    reporter = PruneAt()
    with pytest.raises(NonFiniteLossError, match="eval_loss became inf at step 6") as info:
        runner_for("causal_lm").run(causal_config(tiny_qwen3, text_jsonl, tmp_path), reporter)
    assert info.value.step == 6 and sorted(reporter.values) == [3]  # never reported


def test_diverging_learning_rate_is_caught(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    config = replace(
        config,
        model=replace(config.model, method="full", lora=None),
        hparams=replace(
            config.hparams,
            training_args={"learning_rate": 1e30, "optim": "sgd", "max_grad_norm": 0.0},
        ),
    )
    with pytest.raises(NonFiniteLossError):
        runner_for("causal_lm").run(config, PruneAt())


def test_simulated_oom_raises_the_oom_failure(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPSEARCH_FAILPOINTS", "train.step=oom@step=2")
    with pytest.raises(OutOfMemoryError) as info:
        runner_for("causal_lm").run(causal_config(tiny_qwen3, text_jsonl, tmp_path), PruneAt())
    assert info.value.step == 2 and info.value.retryable


def test_classification_reports_accuracy(
    tiny_bert: str, classification_jsonl: str, tmp_path: Path
) -> None:
    config = causal_config(tiny_bert, classification_jsonl, tmp_path)
    config = replace(
        config,
        model=replace(config.model, task_type="classification"),
        schedule=ScheduleConfig(
            max_steps=6, eval_steps=3, metric="eval_accuracy", greater_is_better=True
        ),
    )
    reporter = PruneAt()
    result = runner_for("classification").run(config, reporter)
    assert result.status == "complete" and sorted(reporter.values) == [3, 6]
    assert all(0.0 <= v <= 1.0 for v in reporter.values.values())
    assert result.value == max(reporter.values.values())


def test_unknown_model_path_and_offline_hub_id(text_jsonl: str, tmp_path: Path) -> None:
    runner = runner_for("causal_lm")
    problems = runner.validate(causal_config(str(tmp_path / "no-model"), text_jsonl, tmp_path))
    assert any("does not exist" in p for p in problems)
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE"):
        runner.run(causal_config("Qwen/Qwen3-0.6B", text_jsonl, tmp_path), PruneAt())
    assert time.monotonic() - started < 30


def test_missing_dataset_column_names_the_columns(tiny_qwen3: str, tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text("\n".join(json.dumps({"body": f"text {i}"}) for i in range(20)))
    config = causal_config(tiny_qwen3, str(data), tmp_path)
    config = replace(config, data=replace(config.data, format="text"))
    problems = runner_for("causal_lm").validate(config)
    assert problems and "no column 'text'" in problems[0] and "body" in problems[0]
    with pytest.raises(DatasetError, match="--text-field"):
        runner_for("causal_lm").run(config, PruneAt())
